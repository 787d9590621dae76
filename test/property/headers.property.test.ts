// Properties of the header rewriting in src/proxy/headers.ts, over random header maps shaped like
// node:http's (lower-case names, string values, arrays for repeated fields): no hop-by-hop header
// is ever forwarded (RFC 9110 §7.6.1: the fixed list and whatever Connection names), every
// end-to-end header passes byte-equal, and the X-Forwarded-* fields say what this hop saw rather
// than what the client claimed.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import fc from 'fast-check';
import {
  appendSetCookie,
  forwardRequestHeaders,
  stripResponseHopByHop,
} from '../../src/proxy/headers';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];
/** Fields the balancer writes itself (or takes from its options): not copied from the client. */
const REWRITTEN = ['cookie', 'host', 'content-length', 'x-forwarded-for', 'x-forwarded-proto'];

/** RFC 9110 tchar, lower-case as node:http delivers names ('__proto__' it never delivers). */
const token = fc
  .string({
    unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+.^_`|~-"),
    minLength: 1,
    maxLength: 16,
  })
  .filter((name) => name !== '__proto__');
const headerName = fc.oneof(
  { weight: 3, arbitrary: token },
  { weight: 2, arbitrary: fc.constantFrom(...HOP_BY_HOP) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'cookie',
      'host',
      'content-length',
      'content-type',
      'authorization',
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-real-ip',
      'set-cookie',
      'constructor',
      'tostring',
    ),
  },
);
/** Field values as node:http hands them over: visible ASCII and Latin-1, spaces, tabs. */
const fieldValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0xff }).map(String.fromCharCode),
  maxLength: 40,
});
const headerValue = fc.oneof(
  { weight: 4, arbitrary: fieldValue },
  { weight: 1, arbitrary: fc.array(fieldValue, { minLength: 1, maxLength: 3 }) },
);
/** Connection items: a field name (or an index into the fields sent), its case, its padding. */
const connectionItems = fc.option(
  fc.array(
    fc.tuple(
      fc.oneof(headerName, fc.constantFrom('close', 'keep-alive', 'upgrade', ''), fc.nat()),
      fc.boolean(),
      fc.constantFrom('', ' ', '  ', '\t'),
    ),
    { maxLength: 6 },
  ),
  { nil: undefined },
);
/** A header map; its Connection (if any) names random fields, often ones actually sent. */
const headerMap = fc
  .tuple(
    fc.dictionary(headerName, headerValue, { maxKeys: 14, noNullPrototype: true }),
    connectionItems,
  )
  .map(([headers, items]) => {
    const map: IncomingHttpHeaders = { ...headers };
    const sent = Object.keys(headers);
    if (items !== undefined) {
      map.connection = items
        .map(([item, upper, pad]) => {
          const name =
            typeof item === 'number' ? (sent[item % Math.max(sent.length, 1)] ?? '') : item;
          return `${pad}${upper ? name.toUpperCase() : name}${pad}`;
        })
        .join(',');
    }
    return map;
  });

function fakeRequest(
  headers: IncomingHttpHeaders,
  remoteAddress: string | undefined,
  extra: Record<string, unknown> = {},
): IncomingMessage {
  return { headers, socket: { remoteAddress }, ...extra } as unknown as IncomingMessage;
}

/** The field names a Connection value nominates ("close" is an option, not a field). */
function nominated(connection: string | string[] | undefined): Set<string> {
  const text = Array.isArray(connection) ? connection.join(',') : (connection ?? '');
  const names = text.split(',').map((t) => t.trim().toLowerCase());
  return new Set(names.filter((name) => name !== '' && name !== 'close'));
}

const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant(undefined));

test('no hop-by-hop header is forwarded; every end-to-end header is kept byte-equal', () => {
  fc.assert(
    fc.property(headerMap, address, (headers, remote) => {
      const before = structuredClone(headers);
      const out = forwardRequestHeaders(fakeRequest(headers, remote), {
        cookie: typeof headers.cookie === 'string' ? headers.cookie : undefined,
        host: undefined,
        contentLength: undefined,
        upgrade: false,
      });
      // The client's headers are not touched.
      expect(headers).toEqual(before);
      const dropped = nominated(headers.connection);
      for (const name of HOP_BY_HOP) expect(out).not.toHaveProperty([name]);
      for (const [name, value] of Object.entries(headers)) {
        if (HOP_BY_HOP.includes(name) || REWRITTEN.includes(name)) continue;
        if (name === 'x-forwarded-host') continue; // below
        if (dropped.has(name)) expect(Object.hasOwn(out, name)).toBe(false);
        else expect(out[name]).toStrictEqual(value);
      }
      // Nothing appears that the client did not send, except what this hop adds.
      for (const name of Object.keys(out)) {
        expect(
          Object.hasOwn(headers, name) ||
            ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'].includes(name),
        ).toBe(true);
      }
    }),
    { numRuns: 1_000 },
  );
});

test('X-Forwarded-For appends this hop’s peer to the chain; -Proto and -Host are this hop’s', () => {
  fc.assert(
    fc.property(headerMap, address, fc.boolean(), (headers, remote, tls) => {
      const req = fakeRequest(headers, remote);
      if (tls) Object.assign(req.socket, { encrypted: true });
      const out = forwardRequestHeaders(req, {
        cookie: undefined,
        host: undefined,
        contentLength: undefined,
        upgrade: false,
      });
      const prior = headers['x-forwarded-for'];
      if (remote === undefined) {
        // A socket already gone: at most the chain as received, nothing invented.
        if (out['x-forwarded-for'] !== undefined) {
          expect(out['x-forwarded-for']).toStrictEqual(prior);
        }
      } else {
        expect(out['x-forwarded-for']).toBe(prior ? `${String(prior)}, ${remote}` : remote);
      }
      // Never the client's claim: without `trust proxy` the client cannot choose these.
      expect(out['x-forwarded-proto']).toBe(tls ? 'https' : 'http');
      expect(out['x-forwarded-host']).toBe(headers.host);
      expect(out).not.toHaveProperty(['cookie']);
    }),
    { numRuns: 1_000 },
  );
});

test('with Express trusting the peer, the client’s X-Forwarded-Host and -Proto are kept', () => {
  fc.assert(
    fc.property(
      headerMap,
      fc.boolean(),
      fc.constantFrom('http', 'https'),
      (headers, trusted, protocol) => {
        const req = fakeRequest(headers, '10.0.0.1', {
          protocol, // what Express's req.protocol says (it honours trust proxy itself)
          app: { get: (name: string) => (name === 'trust proxy fn' ? () => trusted : undefined) },
        });
        const out = forwardRequestHeaders(req, {
          cookie: undefined,
          host: undefined,
          contentLength: undefined,
          upgrade: false,
        });
        expect(out['x-forwarded-proto']).toBe(protocol);
        const claimed = headers['x-forwarded-host'];
        expect(out['x-forwarded-host']).toBe(
          trusted && claimed !== undefined && claimed !== '' ? claimed : headers.host,
        );
      },
    ),
    { numRuns: 1_000 },
  );
});

test('the options win over the client: cookie, Host, Content-Length, upgrade', () => {
  fc.assert(
    fc.property(
      headerMap,
      fc.option(fieldValue, { nil: undefined }),
      fc.option(fc.domain(), { nil: undefined }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.boolean(),
      (headers, cookie, host, contentLength, upgrade) => {
        const out = forwardRequestHeaders(fakeRequest(headers, '127.0.0.1'), {
          cookie,
          host,
          contentLength,
          upgrade,
        });
        expect(out.cookie).toBe(cookie);
        if (host !== undefined) expect(out.host).toBe(host);
        if (contentLength !== undefined) expect(out['content-length']).toBe(String(contentLength));
        if (upgrade) {
          expect(out.connection).toBe('Upgrade');
          expect(out.upgrade).toBe(headers.upgrade);
        } else {
          expect(out).not.toHaveProperty(['connection']);
          expect(out).not.toHaveProperty(['upgrade']);
        }
        expect(out).not.toHaveProperty(['transfer-encoding']);
        expect(out).not.toHaveProperty(['keep-alive']);
        // Never two framings: a chunked request's Content-Length is not passed on (RFC 9112 §6.3).
        if (headers['transfer-encoding'] !== undefined && contentLength === undefined) {
          expect(out).not.toHaveProperty(['content-length']);
        }
      },
    ),
    { numRuns: 1_000 },
  );
});

test('response: hop-by-hop and Connection-named headers are removed, the rest kept', () => {
  fc.assert(
    fc.property(headerMap, (headers) => {
      const copy = structuredClone(headers);
      const dropped = nominated(headers.connection);
      stripResponseHopByHop(copy);
      for (const name of HOP_BY_HOP.filter((n) => n !== 'proxy-authorization')) {
        expect(copy).not.toHaveProperty([name]);
      }
      for (const name of dropped) expect(Object.hasOwn(copy, name)).toBe(false);
      for (const [name, value] of Object.entries(headers)) {
        if (HOP_BY_HOP.includes(name) || dropped.has(name)) continue;
        expect(copy[name]).toStrictEqual(value);
      }
    }),
    { numRuns: 1_000 },
  );
});

test('appendSetCookie keeps every Set-Cookie of the upstream, in order, and adds one', () => {
  fc.assert(
    fc.property(
      fc.option(fc.array(fieldValue, { maxLength: 4 }), { nil: undefined }),
      fieldValue,
      (existing, cookie) => {
        const headers: IncomingHttpHeaders =
          existing === undefined ? {} : { 'set-cookie': existing };
        appendSetCookie(headers, cookie);
        expect(headers['set-cookie']).toEqual([...(existing ?? []), cookie]);
      },
    ),
  );
});
