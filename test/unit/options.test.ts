// Option validation: every bad option throws at construction with a message naming the option
// and what is accepted; good options come out fully defaulted.

import fc from 'fast-check';
import { OptionsError } from '../../src/errors';
import { normalizeOptions } from '../../src/options';
import { MemorySessionStore } from '../../src/session/memory-session-store';

const U = 'http://127.0.0.1:3001';

describe('defaults', () => {
  test('a list of URLs gets every default of the contract', () => {
    const config = normalizeOptions({
      upstreams: [U, { url: 'HTTP://LocalHost:3002/Base/', id: 'b', weight: 3 }],
    });
    expect(config.upstreams.map((u) => [u.id, u.weight])).toEqual([
      ['http://127.0.0.1:3001', 1],
      ['b', 3],
    ]);
    expect(config.upstreams[1]!.url.href).toBe('http://localhost:3002/Base/');
    expect(config).toMatchObject({
      algorithm: 'round-robin',
      sticky: false,
      retries: 2,
      timeout: 30_000,
      connectTimeout: 5_000,
      changeOrigin: false,
      passiveHealth: { failures: 5, ejectFor: 30_000, maxEjectedPercent: 50, on5xx: false },
      healthCheck: {
        type: 'tcp',
        interval: 5000,
        timeout: 2000,
        failureThreshold: 3,
        successThreshold: 2,
      },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('the default id is the URL normalised: lower-case scheme and host, no trailing slash', () => {
    const config = normalizeOptions({ upstreams: ['HTTP://Example.COM:8080/api/'] });
    expect(config.upstreams[0]!.id).toBe('http://example.com:8080/api');
  });

  test('sticky: true gets the contract defaults', () => {
    expect(normalizeOptions({ upstreams: [U], sticky: true }).sticky).toMatchObject({
      cookie: 'lb',
      path: '/',
      sameSite: 'lax',
      httpOnly: true,
      secure: 'auto',
      secrets: [],
    });
  });

  test('healthCheck with a path is an HTTP probe; per-upstream overrides merge', () => {
    const config = normalizeOptions({
      upstreams: [
        U,
        { url: 'http://127.0.0.1:3002', healthCheck: { interval: 100 } },
        { url: 'http://127.0.0.1:3003', healthCheck: false },
      ],
      healthCheck: { path: '/health', expectStatus: [200, 204] },
    });
    const [a, b, c] = config.upstreams;
    expect(a!.healthCheck).toMatchObject({ type: 'http', path: '/health', interval: 5000 });
    expect(b!.healthCheck).toMatchObject({ type: 'http', path: '/health', interval: 100 });
    expect(c!.healthCheck).toBe(false);
    const check = a!.healthCheck as Exclude<typeof a, undefined>['healthCheck'] & object;
    expect([200, 204, 301, 503].map((s) => check.expectStatus(s))).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  test('hash defaults hashKey to ip', () => {
    expect(normalizeOptions({ upstreams: [U], algorithm: 'hash' }).hashKey).toBeInstanceOf(
      Function,
    );
  });

  test('a user Strategy object is accepted', () => {
    const strategy = { name: 'first', pick: (c: readonly unknown[]) => c[0] };
    expect(normalizeOptions({ upstreams: [U], algorithm: strategy as never }).algorithm).toBe(
      strategy,
    );
  });
});

const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['no upstreams', { upstreams: [] }, 'upstreams', /non-empty list/],
  ['upstreams missing', {}, 'upstreams', /upstreams must be/],
  ['a bad URL', { upstreams: ['not a url'] }, 'upstreams[0]', /http:\/\/ or https:\/\//],
  ['a non-http URL', { upstreams: ['ftp://x'] }, 'upstreams[0]', /http:\/\/ or https:\/\//],
  ['a URL with a query', { upstreams: ['http://x/?a=1'] }, 'upstreams[0]', /without query/],
  [
    'weight 0',
    { upstreams: [{ url: U, weight: 0 }] },
    'upstreams[0].weight',
    /positive integer.*got 0/,
  ],
  [
    'weight 1.5',
    { upstreams: [U, { url: 'http://b', weight: 1.5 }] },
    'upstreams[1].weight',
    /got 1.5/,
  ],
  ['a duplicate id', { upstreams: [U, U] }, 'upstreams[1]', /repeats id/],
  ['an empty id', { upstreams: [{ url: U, id: '' }] }, 'upstreams[0].id', /non-empty/],
  [
    'an unknown algorithm',
    { upstreams: [U], algorithm: 'fastest' },
    'algorithm',
    /"round-robin".*got "fastest"/,
  ],
  ['an object without pick', { upstreams: [U], algorithm: {} }, 'algorithm', /pick/],
  [
    'hash with an unusable hashKey',
    { upstreams: [U], algorithm: 'hash', hashKey: 'body' },
    'hashKey',
    /"ip", "path"/,
  ],
  [
    'a bad header hashKey',
    { upstreams: [U], algorithm: 'hash', hashKey: 'header:' },
    'hashKey',
    /header:<name>/,
  ],
  [
    'a negative timeout',
    { upstreams: [U], timeout: -1 },
    'timeout',
    /positive number of milliseconds, got -1/,
  ],
  ['a zero connectTimeout', { upstreams: [U], connectTimeout: 0 }, 'connectTimeout', /positive/],
  ['a string timeout', { upstreams: [U], timeout: '30s' }, 'timeout', /got "30s"/],
  ['negative retries', { upstreams: [U], retries: -1 }, 'retries', /non-negative integer/],
  [
    'a bad cookie name',
    { upstreams: [U], sticky: { cookie: 'a b' } },
    'sticky.cookie',
    /cookie name/,
  ],
  [
    'a bad sameSite',
    { upstreams: [U], sticky: { sameSite: 'sometimes' } },
    'sticky.sameSite',
    /"lax"/,
  ],
  ['an empty secret', { upstreams: [U], sticky: { secret: '' } }, 'sticky.secret', /non-empty/],
  [
    'an empty secret list',
    { upstreams: [U], sticky: { secret: [] } },
    'sticky.secret',
    /non-empty/,
  ],
  [
    'a store without get',
    { upstreams: [U], sticky: { store: { set() {}, delete() {} } } },
    'sticky.store',
    /SessionStore/,
  ],
  ['a null store', { upstreams: [U], sticky: { store: null } }, 'sticky.store', /SessionStore/],
  ['a negative ttl', { upstreams: [U], sticky: { ttl: -5 } }, 'sticky.ttl', /positive/],
  [
    'a bad probe type',
    { upstreams: [U], healthCheck: { type: 'udp' } },
    'healthCheck.type',
    /"http" or "tcp"/,
  ],
  [
    'a probe path without /',
    { upstreams: [U], healthCheck: { path: 'health' } },
    'healthCheck.path',
    /starting with/,
  ],
  [
    'failureThreshold 0',
    { upstreams: [U], healthCheck: { failureThreshold: 0 } },
    'healthCheck.failureThreshold',
    /≥ 1/,
  ],
  [
    'a bad expectStatus',
    { upstreams: [U], healthCheck: { expectStatus: 42 } },
    'healthCheck.expectStatus',
    /HTTP status/,
  ],
  [
    'maxEjectedPercent 120',
    { upstreams: [U], passiveHealth: { maxEjectedPercent: 120 } },
    'passiveHealth.maxEjectedPercent',
    /0 to 100/,
  ],
  ['a bad signal', { upstreams: [U], signal: {} }, 'signal', /AbortSignal/],
  ['a non-function onError', { upstreams: [U], onError: 'log' }, 'onError', /a function/],
  ['a typo', { upstreams: [U], algoritm: 'hash' }, 'algoritm', /did you mean algorithm\?/],
  [
    'a typo in sticky',
    { upstreams: [U], sticky: { cookei: 'x' } },
    'sticky.cookei',
    /did you mean sticky.cookie\?/,
  ],
  [
    'options not an object',
    null as unknown as Record<string, unknown>,
    'options',
    /must be an object/,
  ],
];

test.each(bad)('%s throws, naming the option', (_name, options, option, message) => {
  let thrown: unknown;
  try {
    normalizeOptions(options);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(OptionsError);
  expect((thrown as OptionsError).option).toBe(option);
  expect((thrown as OptionsError).message).toContain(option === 'options' ? 'options' : option);
  expect((thrown as OptionsError).message).toMatch(message);
  expect((thrown as OptionsError).code).toMatch(/^ERR_LB_/);
});

test('random option objects give a config or an OptionsError, never another error', () => {
  const store = new MemorySessionStore();
  const value = fc.oneof(
    fc.constant(undefined),
    fc.boolean(),
    fc.integer({ min: -5, max: 100_000 }),
    fc.double(),
    fc.string(),
    fc.constantFrom('round-robin', 'hash', 'ip', 'header:x-user', U, '/health', 'http'),
    fc.constant(null),
    fc.constant(store),
    fc.array(
      fc.oneof(
        fc.constant(U),
        fc.string(),
        fc.record({ url: fc.constant(U), weight: fc.integer() }),
      ),
    ),
    fc.dictionary(
      fc.constantFrom('path', 'interval', 'cookie', 'secret', 'weight', 'failures', 'type', 'ttl'),
      fc.oneof(fc.string(), fc.integer(), fc.boolean()),
    ),
  );
  const keys = fc.constantFrom(
    'upstreams',
    'algorithm',
    'hashKey',
    'sticky',
    'healthCheck',
    'passiveHealth',
    'retries',
    'timeout',
    'connectTimeout',
    'changeOrigin',
    'metrics',
    'bogus',
  );
  fc.assert(
    fc.property(fc.dictionary(keys, value), (options) => {
      try {
        normalizeOptions(options);
      } catch (error) {
        if (!(error instanceof OptionsError)) throw error;
        expect(error.message).toContain(error.option.replace(/^options$/, 'options'));
      }
    }),
    { numRuns: 2000 },
  );
  void store.close();
});
