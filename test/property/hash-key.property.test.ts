// Properties of hashKey extraction (src/strategies/hash-key.ts): for every kind of hashKey and
// any request a client can send — any headers, cookies, path, address, Express fields or none —
// the extractor returns a non-empty string or undefined and never throws; and parseHashKey
// itself returns an extractor or throws an OptionsError naming the option.

import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { OptionsError } from '../../src/errors';
import { parseHashKey } from '../../src/strategies/hash-key';

/** Names that exist on every plain object's prototype: a lookup must not find those. */
const PROTOTYPE_NAMES = [
  'constructor',
  'tostring',
  'valueof',
  'hasownproperty',
  '__proto__',
  'isprototypeof',
  '__definegetter__',
];
const COOKIE_PROTOTYPE_NAMES = [
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__proto__',
];

const tchar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789!#$%&'*+.^_`|~-");
const token = fc.string({ unit: tchar, minLength: 1, maxLength: 12 });
const anyText = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: fc.constantFrom(...'=;, %"\t\\é\u0000'), maxLength: 30 }),
);
const headerName = fc.oneof(
  token.map((t) => t.toLowerCase()),
  fc.constantFrom('cookie', 'x-tenant', 'x-user', ...PROTOTYPE_NAMES),
);
/** A Cookie header of random pairs, some named like the one asked for, some malformed. */
const cookieHeader = fc
  .array(
    fc.oneof(
      fc.tuple(fc.oneof(token, fc.constantFrom('sid', ...COOKIE_PROTOTYPE_NAMES)), anyText),
      anyText.map((text) => [text, undefined] as const),
    ),
    { maxLength: 6 },
  )
  .map((pairs) =>
    pairs.map(([name, value]) => (value === undefined ? name : `${name}=${value}`)).join('; '),
  );
const headers = fc
  .tuple(
    fc.dictionary(headerName, fc.oneof(anyText, fc.array(anyText, { maxLength: 3 })), {
      maxKeys: 6,
      noNullPrototype: true,
    }),
    fc.option(cookieHeader, { nil: undefined }),
  )
  .map(([map, cookie]) => {
    // node:http delivers a plain object: inherited names (constructor, toString) are visible.
    const plain: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(map)) if (name !== '__proto__') plain[name] = value;
    if (cookie !== undefined) plain.cookie = cookie;
    return plain;
  });
/** What Express or other middleware may have put on the request, including junk. */
const junk = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.integer(),
  anyText,
  fc.constant({}),
  fc.constant([]),
);
const request = fc.record({
  headers,
  url: fc.oneof(fc.constant(undefined), anyText, fc.webPath()),
  originalUrl: junk,
  ip: fc.oneof(junk, fc.ipV4(), fc.ipV6()),
  socket: fc.oneof(
    fc.constant(undefined),
    fc.record({ remoteAddress: fc.oneof(fc.constant(undefined), fc.ipV4(), fc.ipV6()) }),
  ),
});

const option = fc.oneof(
  fc.constantFrom('ip', 'path', 'url'),
  fc
    .oneof(headerName, fc.constantFrom('X-Tenant', 'COOKIE', 'Constructor'))
    .map((name) => `header:${name}`),
  fc
    .oneof(token, fc.constantFrom('sid', ...COOKIE_PROTOTYPE_NAMES))
    .map((name) => `cookie:${name}`),
  // A user function returning anything at all, or throwing.
  fc
    .oneof(
      junk.map((value) => () => value),
      fc.constant(() => {
        throw new Error('user bug');
      }),
    )
    .map((fn) => fn as (req: IncomingMessage) => string | undefined),
);

test('every extractor returns a string or undefined, and never throws', () => {
  fc.assert(
    fc.property(option, request, (hashKey, req) => {
      const extract = parseHashKey(hashKey, 'hashKey');
      const key = extract(req as unknown as IncomingMessage);
      if (key !== undefined) {
        expect(typeof key).toBe('string');
        // An empty header, cookie or function answer is "no key" (balanced in rotation).
        if (typeof hashKey !== 'string' || /^(header|cookie):/.test(hashKey)) {
          expect(key).not.toBe('');
        }
      }
    }),
    { numRuns: 3_000 },
  );
});

test('header:<name> finds only the header the client sent, never an inherited property', () => {
  fc.assert(
    fc.property(fc.constantFrom(...PROTOTYPE_NAMES.filter((n) => n !== '__proto__')), (name) => {
      const extract = parseHashKey(`header:${name}`, 'hashKey');
      const req = { headers: { host: 'a' }, url: '/' } as unknown as IncomingMessage;
      expect(extract(req)).toBeUndefined();
      const sent = { headers: { [name]: 'tenant-7' }, url: '/' } as unknown as IncomingMessage;
      expect(extract(sent)).toBe('tenant-7');
    }),
  );
});

test('cookie:<name> finds only a cookie the client sent', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...COOKIE_PROTOTYPE_NAMES.filter((n) => n !== '__proto__')),
      (name) => {
        const extract = parseHashKey(`cookie:${name}`, 'hashKey');
        const req = { headers: { cookie: 'a=1; b=2' }, url: '/' } as unknown as IncomingMessage;
        expect(extract(req)).toBeUndefined();
      },
    ),
  );
});

test('the key is the same for the same request: extraction is a pure function', () => {
  fc.assert(
    fc.property(option, request, (hashKey, req) => {
      const extract = parseHashKey(hashKey, 'hashKey');
      const r = req as unknown as IncomingMessage;
      expect(extract(r)).toBe(extract(r));
    }),
    { numRuns: 500 },
  );
});

test('parseHashKey: any option value gives an extractor or an OptionsError naming hashKey', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.anything(),
        anyText,
        anyText.map((t) => `header:${t}`),
        anyText.map((t) => `cookie:${t}`),
      ),
      (value) => {
        try {
          expect(typeof parseHashKey(value, 'hashKey')).toBe('function');
        } catch (error) {
          expect(error).toBeInstanceOf(OptionsError);
          expect((error as OptionsError).option).toBe('hashKey');
          expect((error as OptionsError).message).toContain('hashKey');
        }
      },
    ),
    { numRuns: 2_000 },
  );
});
