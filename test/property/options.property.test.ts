// Option normalisation against random option objects shaped like the real ones at every depth
// (upstreams[i].healthCheck.expectStatus, sticky.secret, passiveHealth.maxEjectedPercent, …) with
// random leaves, typos and junk anywhere: the result is a frozen, valid config, or an OptionsError
// whose `option` is a path into the object given and whose message names it. Never another error,
// also not later, when the config is turned into the sticky cookie writer and the strategy.
// test/unit/options.test.ts holds the flat version of this; this one goes deep.

import fc from 'fast-check';
import { OptionsError } from '../../src/errors';
import { normalizeOptions, type Config } from '../../src/options';
import { MemorySessionStore } from '../../src/session/memory-session-store';
import { Sticky } from '../../src/session/sticky';
import { createStrategy } from '../../src/strategies/registry';
import { seededRandom } from '../../src/clock';

const store = new MemorySessionStore({ sweepInterval: 60_000 });
afterAll(() => store.close());

/** Any value, with the numbers and strings that break naive checks over-represented. */
const junk = fc.oneof(
  { weight: 3, arbitrary: fc.anything({ maxDepth: 1, maxKeys: 3 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      0,
      -0,
      -1,
      0.5,
      NaN,
      Infinity,
      -Infinity,
      1e21,
      2 ** 53,
      1_000_001,
      '',
      ' ',
      '5',
      'true',
      null,
      [],
      {},
      () => 'fn',
    ),
  },
);
/**
 * The option-object generator. With `bad` false it draws from valid values only (most such
 * objects normalise); with `bad` true, invalid constants, junk leaves and typos join in.
 */
function optionsArbitrary(bad: boolean): fc.Arbitrary<unknown> {
  const or = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
    bad ? fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: junk }) : valid;
  const pick = <T>(valid: readonly T[], invalid: readonly T[]): fc.Arbitrary<T> =>
    fc.constantFrom(...valid, ...(bad ? invalid : []));
  /** Keys from the schema (the `required` ones always present), and with `bad` a near-miss. */
  const shape = (
    fields: Record<string, fc.Arbitrary<unknown>>,
    typos: readonly string[],
    required: readonly string[] = [],
  ): fc.Arbitrary<unknown> =>
    fc
      .tuple(
        fc.record(fields, { requiredKeys: required as string[] }),
        bad
          ? fc.oneof(
              { weight: 6, arbitrary: fc.constant(undefined) },
              { weight: 1, arbitrary: fc.constantFrom(...typos) },
            )
          : fc.constant(undefined),
        junk,
      )
      .map(([record, typo, value]) => {
        const out: Record<string, unknown> = { ...(record as Record<string, unknown>) };
        if (typo !== undefined) out[typo] = value;
        return out;
      });
  const positive = fc.oneof(
    fc.integer({ min: 1, max: 100_000 }),
    fc.double({ min: 0.001, max: 1e6, noNaN: true }),
  );
  const integer = (min: number, max: number, invalidBelow: number) =>
    fc.integer({ min: bad ? invalidBelow : min, max });
  const url = fc.oneof(
    pick(
      [
        'http://127.0.0.1:3001',
        'https://backend.internal/base/',
        'HTTP://LocalHost:3002/Base',
        'http://[::1]:8080',
      ],
      ['ftp://nope', 'http://user:pw@host', 'http://host/?q=1', 'not a url', 'http://[::1'],
    ),
    fc.webUrl(),
  );
  const healthCheck = or(
    fc.oneof(
      fc.boolean(),
      shape(
        {
          type: or(pick(['http', 'tcp'], ['udp'])),
          path: or(pick(['/health', '/'], ['health', ''])),
          method: or(pick(['GET', 'HEAD'], ['get', 'P0ST'])),
          interval: or(positive),
          timeout: or(positive),
          failureThreshold: or(integer(1, 10, -1)),
          successThreshold: or(integer(1, 10, -1)),
          expectStatus: or(
            fc.oneof(
              integer(100, 599, 0),
              fc.array(integer(100, 599, 0), { minLength: 1, maxLength: 3 }),
              fc.constant((s: number) => s === 204),
            ),
          ),
          headers: or(fc.dictionary(fc.string({ maxLength: 8 }), or(fc.string({ maxLength: 8 })))),
        },
        ['intervall', 'thresold', 'Path'],
      ),
    ),
  );
  const upstream = or(
    fc.oneof(
      url,
      shape(
        {
          url: or(url),
          id: or(
            fc.oneof(
              fc.string({ minLength: 1, maxLength: 10 }),
              pick(['b'], ['', 'x'.repeat(300)]),
            ),
          ),
          weight: or(integer(1, 1_000_000, -2)),
          healthCheck,
        },
        ['weigth', 'URL'],
        ['url'],
      ),
    ),
  );
  const sticky = or(
    fc.oneof(
      fc.boolean(),
      shape(
        {
          cookie: or(pick(['lb', 'srv_id'], ['bad name', '', 'a;b'])),
          ttl: or(positive),
          secret: or(
            fc.oneof(
              fc.string({ minLength: 1, maxLength: 12 }),
              fc.array(or(fc.string({ minLength: 1, maxLength: 12 })), {
                minLength: 1,
                maxLength: 3,
              }),
            ),
          ),
          path: or(pick(['/', '/app'], ['app', '/a;b', '/a b', '/ä'])),
          domain: or(pick(['example.com', '.example.com'], ['exa mple', 'ex;ample', '-'])),
          secure: or(pick<boolean | string>([true, false, 'auto'], ['yes'])),
          sameSite: or(pick(['lax', 'strict', 'none'], ['Lax'])),
          httpOnly: or(fc.boolean()),
          store: or(pick<object>([store], [{ get: () => undefined }, {}])),
        },
        ['cokie', 'secrets', 'maxAge'],
      ),
    ),
  );
  const passiveHealth = or(
    fc.oneof(
      fc.boolean(),
      shape(
        {
          failures: or(integer(1, 20, -1)),
          ejectFor: or(positive),
          maxEjectedPercent: or(
            fc.double({ min: bad ? -10 : 0, max: bad ? 150 : 100, noNaN: true }),
          ),
          on5xx: or(fc.boolean()),
        },
        ['failure', 'ejectfor'],
      ),
    ),
  );
  const metrics = or(
    fc.oneof(
      fc.boolean(),
      shape({ registry: junk, prefix: or(pick(['lb_', '', 'ok:name_'], ['9bad'])) }, ['prefx']),
    ),
  );
  return shape(
    {
      upstreams: or(fc.array(upstream, { minLength: bad ? 0 : 1, maxLength: 4 })),
      algorithm: or(
        fc.oneof(
          pick(['round-robin', 'hash', 'least-connections', 'response-time'], ['fastest']),
          pick<object>([{ name: 'mine', pick: () => undefined }], [{ name: 'no-pick' }]),
        ),
      ),
      hashKey: or(
        fc.oneof(
          pick(
            ['ip', 'path', 'url', 'header:x-tenant', 'cookie:sid'],
            ['header:', 'cookie:a b', 'body'],
          ),
          fc.constant(() => 'k'),
        ),
      ),
      sticky,
      healthCheck,
      passiveHealth,
      retries: or(integer(0, 100, -1)),
      timeout: or(positive),
      connectTimeout: or(positive),
      changeOrigin: or(fc.boolean()),
      pathRewrite: or(fc.constant((p: string) => p)),
      onError: or(fc.constant(() => {})),
      signal: or(fc.constant(new AbortController().signal)),
      metrics,
      maxSockets: or(integer(1, 1000, -1)),
    },
    ['upstream', 'algorithim', 'stickey', 'retry', 'timeOut'],
    bad ? [] : ['upstreams'],
  );
}
const options = fc.oneof(optionsArbitrary(false), optionsArbitrary(true));

/** Every path into `input` as the errors spell them: a.b, a[0].b. */
function pathsOf(input: unknown, prefix = '', out = new Set<string>(), depth = 0): Set<string> {
  if (typeof input !== 'object' || input === null || depth > 5) return out;
  if (Array.isArray(input)) {
    input.forEach((item, i) => {
      out.add(`${prefix}[${i}]`);
      pathsOf(item, `${prefix}[${i}]`, out, depth + 1);
    });
    return out;
  }
  for (const key of Object.keys(input)) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.add(path);
    pathsOf((input as Record<string, unknown>)[key], path, out, depth + 1);
  }
  return out;
}

/** The option an error names exists in the input, or is a required one that is missing. */
function namesInput(input: unknown, option: string): boolean {
  const paths = pathsOf(input);
  if (option === 'options' || paths.has(option)) return true;
  if (option === 'upstreams') return true; // required, missing
  const missingUrl = /^(upstreams\[\d+\])\.url$/.exec(option);
  return missingUrl !== null && paths.has(missingUrl[1]!);
}

/** What a valid config promises, checked field by field. */
function expectValid(config: Config): void {
  expect(Object.isFrozen(config)).toBe(true);
  expect(config.upstreams.length > 0 || config.discovery !== undefined).toBe(true);
  const ids = new Set<string>();
  for (const u of config.upstreams) {
    expect(['http:', 'https:']).toContain(u.url.protocol);
    expect(Number.isInteger(u.weight) && u.weight >= 1 && u.weight <= 1_000_000).toBe(true);
    expect(typeof u.id === 'string' && u.id.length > 0 && u.id.length <= 256).toBe(true);
    expect(ids.has(u.id)).toBe(false);
    ids.add(u.id);
    if (u.healthCheck) {
      expect(u.healthCheck.interval > 0 && Number.isFinite(u.healthCheck.interval)).toBe(true);
      expect(u.healthCheck.path.startsWith('/')).toBe(true);
    }
  }
  for (const ms of [config.timeout, config.connectTimeout]) {
    expect(ms > 0 && Number.isFinite(ms)).toBe(true);
  }
  expect(Number.isInteger(config.retries) && config.retries >= 0 && config.retries <= 100).toBe(
    true,
  );
  expect(Number.isInteger(config.maxSockets) && config.maxSockets >= 1).toBe(true);
  if (config.passiveHealth) {
    const p = config.passiveHealth;
    expect(p.maxEjectedPercent >= 0 && p.maxEjectedPercent <= 100).toBe(true);
    expect(Number.isInteger(p.failures) && p.failures >= 1).toBe(true);
  }
  if (config.sticky) {
    expect(config.sticky.cookie).toMatch(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/);
    expect(config.sticky.secrets.every((s) => typeof s === 'string' && s.length > 0)).toBe(true);
  }
}

test('deep random option objects: a valid config or an OptionsError naming a path into them', () => {
  let valid = 0;
  let rejected = 0;
  fc.assert(
    fc.property(options, (input) => {
      let config: Config;
      try {
        config = normalizeOptions(input);
        // The rest of construction that validates: the cookie writer and the strategy.
        if (config.sticky) new Sticky(config.sticky, { onStoreError: () => {} });
        createStrategy(config.algorithm, seededRandom(1));
      } catch (error) {
        if (!(error instanceof OptionsError)) throw error;
        rejected++;
        expect(error.code).toMatch(/^ERR_LB_[A-Z_]+$/);
        expect(error.message).toContain(error.option);
        expect(namesInput(input, error.option)).toBe(true);
        return;
      }
      valid++;
      expectValid(config);
    }),
    { numRuns: 1_500 },
  );
  // The generator reaches both sides, or the property says little.
  expect(valid).toBeGreaterThan(50);
  expect(rejected).toBeGreaterThan(300);
});

/** Where each numeric option lives, and what a valid value of it is. */
const NUMERIC: Array<{ path: string; valid: (n: number) => boolean }> = [
  { path: 'timeout', valid: (n) => Number.isFinite(n) && n > 0 },
  { path: 'connectTimeout', valid: (n) => Number.isFinite(n) && n > 0 },
  { path: 'retries', valid: (n) => Number.isInteger(n) && n >= 0 && n <= 100 },
  { path: 'maxSockets', valid: (n) => Number.isInteger(n) && n >= 1 },
  { path: 'upstreams[0].weight', valid: (n) => Number.isInteger(n) && n >= 1 && n <= 1e6 },
  { path: 'healthCheck.interval', valid: (n) => Number.isFinite(n) && n > 0 },
  { path: 'healthCheck.timeout', valid: (n) => Number.isFinite(n) && n > 0 },
  { path: 'healthCheck.failureThreshold', valid: (n) => Number.isInteger(n) && n >= 1 },
  { path: 'healthCheck.successThreshold', valid: (n) => Number.isInteger(n) && n >= 1 },
  { path: 'passiveHealth.failures', valid: (n) => Number.isInteger(n) && n >= 1 },
  { path: 'passiveHealth.ejectFor', valid: (n) => Number.isFinite(n) && n > 0 },
  { path: 'passiveHealth.maxEjectedPercent', valid: (n) => n >= 0 && n <= 100 },
  { path: 'sticky.ttl', valid: (n) => Number.isFinite(n) && n > 0 },
];

/** Builds { upstreams: [...], ...} with `value` at `path`. */
function withNumber(path: string, value: number): Record<string, unknown> {
  const options: Record<string, unknown> = { upstreams: ['http://127.0.0.1:3001'] };
  if (path === 'upstreams[0].weight') {
    options.upstreams = [{ url: 'http://127.0.0.1:3001', weight: value }];
    return options;
  }
  const [head, leaf] = path.split('.') as [string, string | undefined];
  if (leaf === undefined) options[head] = value;
  else options[head] = { [leaf]: value };
  return options;
}

/** Reads `path` out of a config (the same names, upstreams[0] being the first upstream). */
function configValue(config: Config, path: string): unknown {
  if (path === 'upstreams[0].weight') return config.upstreams[0]!.weight;
  const [head, leaf] = path.split('.') as [string, string | undefined];
  const node = (config as unknown as Record<string, unknown>)[head];
  return leaf === undefined ? node : (node as Record<string, unknown>)[leaf];
}

test('every numeric option, any number: accepted as given only when valid, else named', () => {
  const number = fc.oneof(
    fc.double(), // NaN, ±Infinity, -0, tiny and huge included
    fc.integer({ min: -10, max: 2_000_000 }),
    fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 0.5, 2 ** 53, Number.MAX_VALUE),
  );
  fc.assert(
    fc.property(fc.constantFrom(...NUMERIC), number, ({ path, valid }, value) => {
      let config: Config;
      try {
        config = normalizeOptions(withNumber(path, value));
      } catch (error) {
        expect(error).toBeInstanceOf(OptionsError);
        expect((error as OptionsError).option).toBe(path);
        expect(valid(value)).toBe(false);
        return;
      }
      expect(valid(value)).toBe(true);
      expect(configValue(config, path)).toBe(value);
    }),
    { numRuns: 3_000 },
  );
});

test('a typo at any depth is named with its full path and a suggestion', () => {
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ upstreams: [{ url: 'http://a:1', weigth: 2 }] }, 'upstreams[0].weigth', 'weight'],
    [
      { upstreams: [{ url: 'http://a:1', healthCheck: { intervall: 1 } }] },
      'upstreams[0].healthCheck.intervall',
      'interval',
    ],
    [
      { upstreams: ['http://a:1'], passiveHealth: { ejectfor: 1 } },
      'passiveHealth.ejectfor',
      'ejectFor',
    ],
    [{ upstreams: ['http://a:1'], metrics: { prefx: 'a' } }, 'metrics.prefx', 'prefix'],
  ];
  for (const [input, option, suggestion] of cases) {
    let thrown: unknown;
    try {
      normalizeOptions(input);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(OptionsError);
    expect((thrown as OptionsError).option).toBe(option);
    expect((thrown as OptionsError).message).toContain(`did you mean`);
    expect((thrown as OptionsError).message).toContain(suggestion);
  }
});
