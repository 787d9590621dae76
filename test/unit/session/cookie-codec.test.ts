// Checks the sticky cookie value on its own: round trips, opacity, expiry, signing and key
// rotation, and that no input string can make decode() throw or accept something it should not.
// Pure unit: `now` is passed in, no timers.

import fc from 'fast-check';
import {
  CookieCodec,
  MAX_VALUE_LENGTH,
  SESSION_ID_LENGTH,
  TOKEN_LENGTH,
  newSessionId,
  type CookieKind,
} from '../../../src/session/cookie-codec';

const NOW = 1_750_000_000_000;
const COOKIE_SAFE = /^[A-Za-z0-9_.-]+$/;
const UPSTREAM_URLS = ['http://127.0.0.1:3001', 'http://10.0.0.7:8080', 'https://backend.internal'];

/** A string of characters a tamperer might substitute: base64url, separators and others. */
const TAMPER_CHARS = 'AZaz09-_.=+/ %"é';

describe('CookieCodec', () => {
  test('upstream tokens are 16 base64url characters, deterministic across instances', () => {
    const a = new CookieCodec([]);
    const b = new CookieCodec([]);
    for (const url of UPSTREAM_URLS) {
      const token = a.upstreamToken(url);
      expect(token).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expect(token).toHaveLength(TOKEN_LENGTH);
      // Independent balancers agree without shared state.
      expect(b.upstreamToken(url)).toBe(token);
    }
  });

  test('tokens are keyed when secrets are set: they differ per secret and from the unkeyed one', () => {
    const url = UPSTREAM_URLS[0]!;
    const unkeyed = new CookieCodec([]).upstreamToken(url);
    const one = new CookieCodec(['one']).upstreamToken(url);
    const two = new CookieCodec(['two']).upstreamToken(url);
    expect(new Set([unkeyed, one, two]).size).toBe(3);
    // Slot 1 of ['two', 'one'] is the 'one' key.
    expect(new CookieCodec(['two', 'one']).upstreamToken(url, 1)).toBe(one);
  });

  test('distinct upstream ids get distinct tokens', () => {
    const codec = new CookieCodec([]);
    const ids = Array.from({ length: 2_000 }, (_, i) => `http://10.0.${i >> 8}.${i & 255}:80`);
    expect(new Set(ids.map((id) => codec.upstreamToken(id))).size).toBe(ids.length);
  });

  test.each([
    ['unsigned, no expiry', [], undefined],
    ['unsigned, expiry', [], NOW + 60_000],
    ['signed, no expiry', ['s3cret'], undefined],
    ['signed, expiry', ['s3cret'], NOW + 60_000],
  ] as const)('round trip: %s', (_name, secrets, expires) => {
    const codec = new CookieCodec(secrets);
    for (const url of UPSTREAM_URLS) {
      const token = codec.upstreamToken(url);
      const value = codec.encode('upstream', token, expires);
      expect(value).toMatch(COOKIE_SAFE);
      // The value never reveals the upstream's address.
      expect(value).not.toContain(url);
      // (Whole host names and schemes: a short digit run could occur in base64 by chance.)
      expect(value).not.toMatch(/127\.0\.0\.1|10\.0\.0\.7|backend|https?:/);
      expect(codec.decode('upstream', value, NOW)).toEqual({ head: token, expires, keyIndex: 0 });
    }
  });

  test('session ids are 24 random base64url characters and round-trip signed', () => {
    const ids = new Set(Array.from({ length: 1_000 }, () => newSessionId()));
    expect(ids.size).toBe(1_000);
    const codec = new CookieCodec(['k']);
    for (const id of [...ids].slice(0, 50)) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(id).toHaveLength(SESSION_ID_LENGTH);
      const value = codec.encode('session', id, NOW + 1_000);
      expect(codec.decode('session', value, NOW)?.head).toBe(id);
    }
  });

  test('a value made for one kind is not accepted as the other', () => {
    const codec = new CookieCodec(['k']);
    const session = codec.encode('session', newSessionId(), undefined);
    const upstream = codec.encode('upstream', codec.upstreamToken('a'), undefined);
    expect(codec.decode('upstream', session, NOW)).toBeUndefined();
    expect(codec.decode('session', upstream, NOW)).toBeUndefined();
  });

  test('expiry is honoured: valid before, absent at and after', () => {
    const codec = new CookieCodec(['k']);
    const value = codec.encode('upstream', codec.upstreamToken('a'), NOW + 1_000);
    expect(codec.decode('upstream', value, NOW + 999)).toBeDefined();
    expect(codec.decode('upstream', value, NOW + 1_000)).toBeUndefined();
    expect(codec.decode('upstream', value, NOW + 10_000_000)).toBeUndefined();
  });

  test('an absurdly far expiry still decodes (clamped), instead of silently never matching', () => {
    const codec = new CookieCodec(['k']);
    const value = codec.encode('upstream', codec.upstreamToken('a'), NOW + 1e20);
    expect(codec.decode('upstream', value, NOW)?.expires).toBe(Number.MAX_SAFE_INTEGER);
  });

  test('rotation: an old-secret value is accepted while the old secret is listed', () => {
    const old = new CookieCodec(['old']);
    const value = old.encode('upstream', old.upstreamToken('a'), NOW + 1_000);
    const rotated = new CookieCodec(['new', 'old']);
    const decoded = rotated.decode('upstream', value, NOW);
    expect(decoded).toEqual({ head: old.upstreamToken('a'), expires: NOW + 1_000, keyIndex: 1 });
    // keyIndex 1 says which token map to look the head up in.
    expect(decoded?.head).toBe(rotated.upstreamToken('a', 1));
    expect(new CookieCodec(['new']).decode('upstream', value, NOW)).toBeUndefined();
  });

  test('signing mode must match: unsigned values fail with secrets, signed ones without', () => {
    const plain = new CookieCodec([]);
    const signed = new CookieCodec(['k']);
    for (const expires of [undefined, NOW + 1_000]) {
      const unsignedValue = plain.encode('upstream', plain.upstreamToken('a'), expires);
      const signedValue = signed.encode('upstream', signed.upstreamToken('a'), expires);
      expect(signed.decode('upstream', unsignedValue, NOW)).toBeUndefined();
      expect(plain.decode('upstream', signedValue, NOW)).toBeUndefined();
    }
  });

  test.each([
    ['empty', ''],
    ['one dot', '.'],
    ['dots only', '...'],
    ['short head', 'abc'],
    ['head with padding', 'AAAAAAAAAAAAAA=='],
    ['head with bad char', 'AAAAAAAAAAAAAA+A'],
    ['bad expiry', 'AAAAAAAAAAAAAAAA.ZZ'],
    ['negative expiry', 'AAAAAAAAAAAAAAAA.-1'],
    ['too many parts', 'AAAAAAAAAAAAAAAA.1.2'],
    ['huge', 'A'.repeat(100_000)],
    ['just over the cap', 'A'.repeat(MAX_VALUE_LENGTH + 1)],
  ])('malformed values are absent: %s', (_name, value) => {
    for (const secrets of [[], ['k']]) {
      expect(new CookieCodec(secrets).decode('upstream', value, NOW)).toBeUndefined();
    }
  });

  test('non-string input is absent, never a throw', () => {
    const codec = new CookieCodec(['k']);
    for (const value of [undefined, null, 42, {}, [], Symbol('x')]) {
      expect(codec.decode('upstream', value, NOW)).toBeUndefined();
    }
  });

  describe('properties', () => {
    const kinds = fc.constantFrom<CookieKind>('upstream', 'session');
    const secretLists = fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 3 });
    const anyString = fc.oneof(
      fc.string({ maxLength: 700 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.stringMatching(/^[A-Za-z0-9_.-]{0,80}$/),
    );

    test('any string in: no throw, and either absent or a well-formed, unexpired result', () => {
      fc.assert(
        fc.property(
          kinds,
          secretLists,
          anyString,
          fc.integer({ min: 0, max: 2 ** 45 }),
          (kind, secrets, value, now) => {
            const codec = new CookieCodec(secrets);
            const decoded = codec.decode(kind, value, now);
            if (decoded === undefined) return;
            expect(decoded.head).toMatch(/^[A-Za-z0-9_-]+$/);
            expect(decoded.head).toHaveLength(
              kind === 'upstream' ? TOKEN_LENGTH : SESSION_ID_LENGTH,
            );
            if (decoded.expires !== undefined) expect(decoded.expires).toBeGreaterThan(now);
            expect(decoded.keyIndex).toBeGreaterThanOrEqual(0);
            expect(decoded.keyIndex).toBeLessThan(codec.keyCount);
          },
        ),
        { numRuns: 2_000 },
      );
    });

    test('sign → verify round trip for any secrets, ids and expiries', () => {
      fc.assert(
        fc.property(
          fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }), {
            minLength: 1,
            maxLength: 3,
          }),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 256 }),
          fc.option(fc.integer({ min: 1, max: 10 ** 9 }), { nil: undefined }),
          (secrets, upstreamId, ttl) => {
            const codec = new CookieCodec(secrets);
            const token = codec.upstreamToken(upstreamId);
            const expires = ttl === undefined ? undefined : NOW + ttl;
            const value = codec.encode('upstream', token, expires);
            expect(value).toMatch(COOKIE_SAFE);
            expect(codec.decode('upstream', value, NOW)).toEqual({
              head: token,
              expires,
              keyIndex: 0,
            });
          },
        ),
        { numRuns: 500 },
      );
    });

    test('any single-character change to a signed value is rejected', () => {
      fc.assert(
        fc.property(
          kinds,
          fc.string({ minLength: 1, maxLength: 20 }),
          fc.option(fc.integer({ min: 1, max: 10 ** 9 }), { nil: undefined }),
          fc.nat(),
          fc.constantFrom(...TAMPER_CHARS),
          fc.constantFrom('replace', 'insert', 'delete'),
          (kind, secret, ttl, at, char, edit) => {
            const codec = new CookieCodec([secret]);
            const head =
              kind === 'upstream' ? codec.upstreamToken('http://127.0.0.1:3001') : newSessionId();
            const value = codec.encode(kind, head, ttl === undefined ? undefined : NOW + ttl);
            const i = at % value.length;
            let tampered: string;
            if (edit === 'replace') {
              fc.pre(value[i] !== char);
              tampered = value.slice(0, i) + char + value.slice(i + 1);
            } else if (edit === 'insert') {
              tampered = value.slice(0, i) + char + value.slice(i);
            } else {
              tampered = value.slice(0, i) + value.slice(i + 1);
            }
            expect(codec.decode(kind, tampered, NOW)).toBeUndefined();
          },
        ),
        { numRuns: 3_000 },
      );
    });

    test('the same value under another secret is rejected', () => {
      fc.assert(
        fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
          fc.pre(a !== b);
          const codecA = new CookieCodec([a]);
          const value = codecA.encode('session', newSessionId(), undefined);
          expect(new CookieCodec([b]).decode('session', value, NOW)).toBeUndefined();
        }),
        { numRuns: 300 },
      );
    });
  });
});
