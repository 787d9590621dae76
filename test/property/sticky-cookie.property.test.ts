// Properties of the sticky cookie beyond those in test/unit/session/cookie-codec.test.ts (which
// covers: any string → no throw; upstream-kind round trip; single-character tampering; another
// secret). Here: expiry as a property of (expires, now) for both kinds and signing modes; session
// ids and key rotation round-tripping at every slot; multi-part tampering (a later expiry, a
// spliced signature, truncation, a value moved to the other kind); and Sticky on whole Cookie
// headers — any header resolves to no pin or a member, never throws, and stripCookie removes the
// balancer's cookie while every other pair passes byte for byte.

import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import type { StickyConfig } from '../../src/options';
import {
  CookieCodec,
  MAX_VALUE_LENGTH,
  newSessionId,
  type CookieKind,
} from '../../src/session/cookie-codec';
import { Sticky } from '../../src/session/sticky';

const NOW = 1_750_000_000_000;
const MEMBERS = ['http://127.0.0.1:3001', 'http://127.0.0.1:3002', 'https://10.1.2.3:8443/base'];

const kinds = fc.constantFrom<CookieKind>('upstream', 'session');
const secret = fc.string({ unit: 'binary', minLength: 1, maxLength: 32 });
const secrets = fc.array(secret, { minLength: 1, maxLength: 4 });
const maybeSecrets = fc.oneof(fc.constant([] as string[]), secrets);

function headOf(codec: CookieCodec, kind: CookieKind, id: string): string {
  return kind === 'upstream' ? codec.upstreamToken(id) : newSessionId();
}

describe('CookieCodec', () => {
  test('expiry: a value is accepted exactly while now < expires', () => {
    fc.assert(
      fc.property(
        kinds,
        maybeSecrets,
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        (kind, keys, expires, offset) => {
          const codec = new CookieCodec(keys);
          const value = codec.encode(kind, headOf(codec, kind, MEMBERS[0]!), expires);
          const now = expires + offset;
          const decoded = codec.decode(kind, value, now);
          if (now < expires) expect(decoded?.expires).toBe(expires);
          else expect(decoded).toBeUndefined();
        },
      ),
      { numRuns: 2_000 },
    );
  });

  test('rotation: a value signed with any listed secret is accepted, with that secret’s index', () => {
    fc.assert(
      fc.property(
        kinds,
        fc.uniqueArray(secret, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.option(fc.integer({ min: 1, max: 10 ** 9 }), { nil: undefined }),
        (kind, keys, pick, ttl) => {
          const index = pick % keys.length;
          // The balancer that issued it knew only that secret.
          const issuer = new CookieCodec([keys[index]!]);
          const head = headOf(issuer, kind, MEMBERS[1]!);
          const expires = ttl === undefined ? undefined : NOW + ttl;
          const value = issuer.encode(kind, head, expires);
          const rotated = new CookieCodec(keys);
          expect(rotated.decode(kind, value, NOW)).toEqual({ head, expires, keyIndex: index });
          if (kind === 'upstream') expect(rotated.upstreamToken(MEMBERS[1]!, index)).toBe(head);
          // Dropping that secret from the list rejects the value.
          const dropped = keys.filter((_, i) => i !== index);
          if (dropped.length > 0) {
            expect(new CookieCodec(dropped).decode(kind, value, NOW)).toBeUndefined();
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test('tampering with a signed value in any way is rejected', () => {
    const tamper = fc.oneof(
      // a later expiry with the original signature (the attack an unsigned cookie allows)
      fc.record({ kind: fc.constant('extend' as const), by: fc.integer({ min: 1, max: 2 ** 40 }) }),
      // another value's signature spliced on
      fc.record({ kind: fc.constant('splice' as const) }),
      // cut anywhere
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      // several random edits
      fc.record({
        kind: fc.constant('edits' as const),
        edits: fc.array(fc.tuple(fc.nat(), fc.constantFrom(...'Aa0_-.=%Zz9 ')), {
          minLength: 1,
          maxLength: 6,
        }),
      }),
      // a suffix or a prefix added
      fc.record({
        kind: fc.constant('append' as const),
        text: fc.string({ minLength: 1, maxLength: 30 }),
      }),
      fc.record({
        kind: fc.constant('prepend' as const),
        text: fc.string({ minLength: 1, maxLength: 30 }),
      }),
    );
    fc.assert(
      fc.property(
        kinds,
        secrets,
        fc.integer({ min: 1, max: 10 ** 9 }),
        tamper,
        (kind, keys, ttl, t) => {
          const codec = new CookieCodec(keys);
          const head = headOf(codec, kind, MEMBERS[2]!);
          const value = codec.encode(kind, head, NOW + ttl);
          const [payloadHead, expires, signature] = value.split('.') as [string, string, string];
          let tampered: string;
          switch (t.kind) {
            case 'extend':
              tampered = `${payloadHead}.${(NOW + ttl + t.by).toString(36)}.${signature}`;
              break;
            case 'splice': {
              const other = codec.encode(kind, headOf(codec, kind, MEMBERS[0]!), NOW + ttl + 1);
              tampered = `${payloadHead}.${expires}.${other.split('.')[2]!}`;
              break;
            }
            case 'truncate':
              tampered = value.slice(0, t.at % value.length);
              break;
            case 'edits': {
              const chars = [...value];
              for (const [at, char] of t.edits) chars[at % chars.length] = char;
              tampered = chars.join('');
              break;
            }
            case 'append':
              tampered = value + t.text;
              break;
            case 'prepend':
              tampered = t.text + value;
              break;
          }
          fc.pre(tampered !== value);
          expect(codec.decode(kind, tampered, NOW)).toBeUndefined();
          // Nor is it valid as the other kind.
          expect(
            codec.decode(kind === 'upstream' ? 'session' : 'upstream', value, NOW),
          ).toBeUndefined();
        },
      ),
      { numRuns: 3_000 },
    );
  });

  test('unsigned values carry no integrity: documented, so a secret is required to bind a client', () => {
    // Without secrets anyone can forge a well-formed value: the property is that it still names
    // only a token, never an address, and that tokens of other members are what it can choose.
    const codec = new CookieCodec([]);
    fc.assert(
      fc.property(fc.constantFrom(...MEMBERS), fc.integer({ min: 1, max: 10 ** 9 }), (id, ttl) => {
        const forged = codec.encode('upstream', codec.upstreamToken(id), NOW + ttl);
        expect(codec.decode('upstream', forged, NOW)?.head).toBe(codec.upstreamToken(id));
        expect(forged).not.toContain(new URL(id).hostname);
      }),
    );
  });
});

// ------------------------------------------------------------------------------------ Sticky

function config(overrides: Partial<StickyConfig> = {}): StickyConfig {
  return {
    cookie: 'lb',
    ttl: undefined,
    secrets: [],
    path: '/',
    domain: undefined,
    secure: 'auto',
    sameSite: 'lax',
    httpOnly: true,
    store: undefined,
    ...overrides,
  };
}

function fakeRequest(cookie: string | undefined): IncomingMessage {
  return {
    headers: cookie === undefined ? {} : { cookie },
    socket: {},
  } as unknown as IncomingMessage;
}

const noHooks = { onStoreError: () => {} };

/** Cookie-pair-ish segments: valid pairs, the balancer's own name, junk, odd spacing. */
const otherName = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,10}$/),
  fc.constantFrom('lbx', 'xlb', 'LB', 'l b', ' lb2'),
);
const anyValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'"=;,% \t.é\u0000'), maxLength: 12 }),
  fc.constant('A'.repeat(MAX_VALUE_LENGTH + 5)),
);
/** Shaped like a cookie value (head, expiry, signature parts), to reach the codec's checks. */
const valueShaped = fc
  .array(fc.stringMatching(/^[A-Za-z0-9_-]{0,26}$/), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join('.'));
const segment = fc.oneof(
  fc.tuple(otherName, anyValue).map(([n, v]) => `${n}=${v.replace(/;/g, '')}`),
  fc
    .tuple(fc.constantFrom('lb', ' lb', 'lb ', '\tlb'), fc.oneof(anyValue, valueShaped))
    .map(([n, v]) => `${n}=${v.replace(/;/g, '')}`),
  anyValue.map((v) => v.replace(/;/g, '')),
);
const cookieHeader = fc
  .tuple(fc.array(segment, { maxLength: 8 }), fc.constantFrom(';', '; ', ' ;  '))
  .map(([segments, sep]) => segments.join(sep));

describe('Sticky', () => {
  const settings = fc.record({
    secrets: maybeSecrets,
    ttl: fc.option(fc.integer({ min: 1, max: 10 ** 8 }), { nil: undefined }),
  });

  test('any Cookie header: resolve never throws and pins only a member or nothing', () => {
    fc.assert(
      fc.property(settings, cookieHeader, (s, header) => {
        const sticky = new Sticky(config(s), noHooks, { clock: { now: () => NOW } });
        sticky.onMembersChanged(MEMBERS);
        const pin = sticky.resolve(fakeRequest(header));
        expect(pin).not.toBeInstanceOf(Promise);
        const upstreamId = (pin as { upstreamId: string | undefined }).upstreamId;
        if (upstreamId !== undefined) expect(MEMBERS).toContain(upstreamId);
      }),
      { numRuns: 2_000 },
    );
  });

  test('an issued cookie, anywhere among other cookies and stale ones, pins its upstream again', () => {
    fc.assert(
      fc.property(
        settings,
        fc.constantFrom(...MEMBERS),
        fc.array(fc.tuple(otherName, fc.stringMatching(/^[A-Za-z0-9]{0,8}$/)), { maxLength: 5 }),
        fc.nat(),
        // Stale or forged values under the same name (another Path, an old secret): invalid ones
        // before the valid one must not hide it.
        fc.array(fc.stringMatching(/^[A-Za-z0-9_.-]{0,30}$/), { maxLength: 2 }),
        (s, member, others, at, stale) => {
          const sticky = new Sticky(config(s), noHooks, { clock: { now: () => NOW } });
          sticky.onMembersChanged(MEMBERS);
          const noPin = sticky.resolve(fakeRequest(undefined)) as { upstreamId: undefined };
          const setCookie = sticky.commit(fakeRequest(undefined), noPin as never, member)!;
          const issued = setCookie.split(';')[0]!;
          const pairs = others
            .filter(([name]) => name.trim() !== 'lb')
            .map(([name, value]) => `${name}=${value}`);
          pairs.splice(at % (pairs.length + 1), 0, issued);
          pairs.unshift(...stale.map((value) => `lb=${value}`));
          const pin = sticky.resolve(fakeRequest(pairs.join('; '))) as { upstreamId?: string };
          expect(pin.upstreamId).toBe(member);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('stripCookie: never throws, removes every balancer cookie, keeps the others byte for byte', () => {
    fc.assert(
      fc.property(cookieHeader, (header) => {
        const sticky = new Sticky(config(), noHooks);
        const stripped = sticky.stripCookie(header);
        const name = (segment: string) => {
          const eq = segment.indexOf('=');
          return eq < 0 ? undefined : segment.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, '');
        };
        const kept = header.split(';').filter((segment) => name(segment) !== 'lb');
        if (stripped === undefined) {
          expect(kept.every((segment) => /^[\s]*$/.test(segment))).toBe(true);
          return;
        }
        const out = stripped.split(';');
        expect(out.some((segment) => name(segment) === 'lb')).toBe(false);
        // The other segments, in order, unchanged (leading spaces of the first aside).
        expect(out.map((segment) => segment.trim())).toEqual(kept.map((segment) => segment.trim()));
        expect(out.slice(1)).toEqual(kept.slice(1));
      }),
      { numRuns: 2_000 },
    );
  });
});
