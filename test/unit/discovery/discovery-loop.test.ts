// Tests the DiscoveryLoop with a scripted source and no pool: what an answer becomes (entries
// normalised, bad ones skipped and reported, empty answers and authority), failures and timeouts
// that keep the pool, the schedule (interval, TTL, retry backoff; real short timers), ready(),
// and close() (idempotent, aborting, nothing applied after it). The delay rules are pure.

import {
  DiscoveryLoop,
  MIN_REFRESH_MS,
  nextRefreshDelay,
  retryDelay,
} from '../../../src/discovery/discovery-loop';
import { DiscoveryError } from '../../../src/discovery/discovery-error';
import type {
  DiscoveryContext,
  DiscoveryResult,
  DiscoverySource,
} from '../../../src/discovery/discovery-source';
import { OptionsError } from '../../../src/errors';
import { DEFAULT_HEALTH_CHECK, type UpstreamConfig } from '../../../src/options';
import { sleep, waitFor } from '../../helpers/upstreams';

type Answer = DiscoveryResult | Error | ((ctx: DiscoveryContext) => Promise<DiscoveryResult>);

/** A source that answers from a script: each refresh takes the next answer (the last repeats). */
function scripted(
  answers: Answer[],
  overrides: Partial<DiscoverySource> = {},
): DiscoverySource & { calls: number; contexts: DiscoveryContext[] } {
  const source = {
    kind: 'discovery' as const,
    name: 'test-source',
    interval: 60_000,
    calls: 0,
    contexts: [] as DiscoveryContext[],
    resolve(ctx: DiscoveryContext): Promise<DiscoveryResult> {
      source.contexts.push(ctx);
      const answer = answers[Math.min(source.calls, answers.length - 1)]!;
      source.calls++;
      if (answer instanceof Error) return Promise.reject(answer);
      if (typeof answer === 'function') return answer(ctx);
      return Promise.resolve(answer);
    },
    ...overrides,
  };
  return source;
}

const loops: DiscoveryLoop[] = [];
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.close();
});

function setup(source: DiscoverySource): {
  loop: DiscoveryLoop;
  applied: Array<readonly UpstreamConfig[]>;
  errors: DiscoveryError[];
} {
  const applied: Array<readonly UpstreamConfig[]> = [];
  const errors: DiscoveryError[] = [];
  const loop = new DiscoveryLoop({
    source,
    healthCheck: DEFAULT_HEALTH_CHECK,
    apply: (configs) => applied.push(configs),
    onError: (error) => errors.push(error),
  });
  loops.push(loop);
  return { loop, applied, errors };
}

const ids = (configs: readonly UpstreamConfig[] | undefined): string[] =>
  (configs ?? []).map((c) => c.id);

describe('delays (pure)', () => {
  test.each([
    { interval: 10_000, ttl: undefined, expected: 10_000 },
    { interval: 10_000, ttl: 30_000, expected: 10_000 }, // a long TTL never delays past interval
    { interval: 10_000, ttl: 3_000, expected: 3_000 }, // a short TTL brings it sooner
    { interval: 10_000, ttl: 0, expected: MIN_REFRESH_MS }, // TTL 0 cannot spin
    { interval: 200, ttl: 0, expected: 200 }, // … unless the interval itself is shorter
    { interval: 10_000, ttl: -5, expected: 10_000 },
    { interval: 10_000, ttl: Number.NaN, expected: 10_000 },
  ])('interval $interval, ttl $ttl → $expected', ({ interval, ttl, expected }) => {
    expect(nextRefreshDelay(interval, ttl)).toBe(expected);
  });

  test('retries back off from 1 s, doubling, capped at the interval', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(10_000, n))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
    expect(retryDelay(200, 1)).toBe(200);
    expect(retryDelay(10_000, 500)).toBe(10_000);
  });
});

describe('what an answer becomes', () => {
  test('entries are normalised with the pool health check and applied as one list', async () => {
    const { loop, applied, errors } = setup(
      scripted([
        {
          upstreams: [
            'http://10.0.0.1:3000',
            { url: 'HTTP://10.0.0.2:3000/', weight: 3 },
            { url: 'http://10.0.0.3:3000', id: 'c', healthCheck: false },
          ],
        },
      ]),
    );
    await loop.refreshNow();
    expect(errors).toEqual([]);
    expect(ids(applied[0])).toEqual(['http://10.0.0.1:3000', 'http://10.0.0.2:3000', 'c']);
    expect(applied[0]![1]!.weight).toBe(3);
    expect(applied[0]![0]!.healthCheck).toBe(DEFAULT_HEALTH_CHECK);
    expect(applied[0]![2]!.healthCheck).toBe(false);
  });

  test('bad entries are skipped and reported one by one; the good ones are applied', async () => {
    const { loop, applied, errors } = setup(
      scripted([
        {
          upstreams: [
            'http://10.0.0.1:3000',
            'ftp://10.0.0.9',
            { url: 'http://10.0.0.2:3000', weight: 0 },
            { url: 'http://10.0.0.3:3000', wieght: 2 } as unknown as string, // a typo
            'http://10.0.0.1:3000/', // the same id again
            42 as unknown as string,
          ],
        },
      ]),
    );
    await loop.refreshNow();
    expect(ids(applied[0])).toEqual(['http://10.0.0.1:3000']);
    expect(errors.map((e) => e.code)).toEqual(Array(5).fill('ERR_LB_DISCOVERY_BAD_ENTRY'));
    expect(errors.every((e) => e.source === 'test-source')).toBe(true);
    expect(errors[0]!.message).toMatch(/answer\[1\] skipped: ERR_LB_BAD_URL: answer\[1\]/);
    expect(errors[0]!.cause).toBeInstanceOf(OptionsError);
    expect(errors[1]!.message).toMatch(/ERR_LB_BAD_WEIGHT/);
    expect(errors[2]!.message).toMatch(/did you mean answer\[3\]\.weight/);
    expect(errors[3]!.message).toMatch(/answer\[4\] skipped: it repeats id/);
  });

  test('an answer whose every entry is bad keeps the pool (it is broken, not empty)', async () => {
    const { loop, applied, errors } = setup(
      scripted([{ upstreams: ['http://10.0.0.1:3000'] }, { upstreams: ['nope', 'nope either'] }]),
    );
    await loop.refreshNow();
    await loop.refreshNow();
    expect(applied).toHaveLength(1);
    expect(errors.map((e) => e.code)).toEqual([
      'ERR_LB_DISCOVERY_BAD_ENTRY',
      'ERR_LB_DISCOVERY_BAD_ENTRY',
    ]);
  });

  test('an empty answer is reported and not applied, unless it is authoritative', async () => {
    const { loop, applied, errors } = setup(
      scripted([
        { upstreams: ['http://10.0.0.1:3000'] },
        { upstreams: [] },
        { upstreams: [], authoritative: true },
      ]),
    );
    await loop.refreshNow();
    await loop.refreshNow();
    expect(applied).toHaveLength(1);
    expect(errors.map((e) => e.code)).toEqual(['ERR_LB_DISCOVERY_EMPTY']);
    await loop.refreshNow();
    expect(applied).toHaveLength(2);
    expect(applied[1]).toEqual([]);
  });

  test.each([
    {
      name: 'a rejection',
      bad: new Error('registry down'),
      code: 'ERR_LB_DISCOVERY_FAILED',
      message: /registry down/,
    },
    {
      name: 'no upstreams list',
      bad: { nope: true },
      code: 'ERR_LB_DISCOVERY_BAD_ANSWER',
      message: /not a list/,
    },
    {
      name: 'undefined',
      bad: undefined,
      code: 'ERR_LB_DISCOVERY_BAD_ANSWER',
      message: /not a list/,
    },
  ])('$name keeps the pool and reports $code', async ({ bad, code, message }) => {
    const { loop, applied, errors } = setup(
      scripted([
        { upstreams: ['http://10.0.0.1:3000'] },
        bad as unknown as DiscoveryResult | Error,
      ]),
    );
    await loop.refreshNow();
    await loop.refreshNow();
    expect(applied).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(DiscoveryError);
    expect(errors[0]!.code).toBe(code);
    expect(errors[0]!.message).toMatch(message);
    if (bad instanceof Error) expect(errors[0]!.cause).toBe(bad);
  });

  test('a source that throws synchronously is a failed refresh, not a crash', async () => {
    const source = scripted([{ upstreams: [] }], {
      resolve: () => {
        throw new Error('sync bug');
      },
    });
    const { loop, errors } = setup(source);
    await loop.refreshNow();
    expect(errors[0]!.code).toBe('ERR_LB_DISCOVERY_FAILED');
    expect(errors[0]!.message).toMatch(/sync bug/);
  });

  test('a listener that throws does not stop the loop', async () => {
    const applied: Array<readonly UpstreamConfig[]> = [];
    const source = scripted([new Error('x'), { upstreams: ['http://10.0.0.1:3000'] }]);
    const loop = new DiscoveryLoop({
      source,
      healthCheck: false,
      apply: (configs) => applied.push(configs),
      onError: () => {
        throw new Error('listener bug');
      },
    });
    loops.push(loop);
    await loop.refreshNow();
    await loop.refreshNow();
    expect(applied).toHaveLength(1);
  });
});

describe('timeouts and close()', () => {
  test('a refresh is bounded by timeout: reported, pool kept, its signal aborted', async () => {
    const source = scripted(
      [
        { upstreams: ['http://10.0.0.1:3000'] },
        () => new Promise<DiscoveryResult>(() => {}), // never answers
      ],
      { timeout: 100 },
    );
    const { loop, applied, errors } = setup(source);
    await loop.refreshNow();
    const started = Date.now();
    await loop.refreshNow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(applied).toHaveLength(1);
    expect(errors.map((e) => e.code)).toEqual(['ERR_LB_DISCOVERY_TIMEOUT']);
    expect(errors[0]!.message).toMatch(/no answer within 100 ms/);
    expect(source.contexts[1]!.signal.aborted).toBe(true);
    expect(source.contexts[1]!.signal.reason).toBe(errors[0]);
  });

  test('the default timeout is min(interval, 5 s)', async () => {
    const source = scripted([() => new Promise<DiscoveryResult>(() => {})], { interval: 120 });
    const { loop, errors } = setup(source);
    const started = Date.now();
    await loop.refreshNow();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(errors[0]!.code).toBe('ERR_LB_DISCOVERY_TIMEOUT');
  });

  test('close() aborts the refresh in flight, applies nothing after, and is idempotent', async () => {
    let release!: (r: DiscoveryResult) => void;
    const source = scripted([
      () =>
        new Promise<DiscoveryResult>((resolve) => {
          release = resolve;
        }),
    ]);
    const { loop, applied, errors } = setup(source);
    loop.start();
    await waitFor(() => source.calls === 1, { message: 'the first refresh' });
    const closing = loop.close();
    expect(loop.close()).toBe(closing);
    await closing;
    expect(source.contexts[0]!.signal.aborted).toBe(true);
    release({ upstreams: ['http://10.0.0.1:3000'] });
    await sleep(20);
    expect(applied).toEqual([]);
    expect(errors).toEqual([]); // closing is not an error
    await loop.refreshNow(); // a no-op now
    loop.start();
    await sleep(50);
    expect(source.calls).toBe(1);
  });
});

describe('the schedule (real short timers)', () => {
  test('start() refreshes at once, then every interval; close() stops it', async () => {
    const source = scripted([{ upstreams: ['http://10.0.0.1:3000'] }], { interval: 100 });
    const { loop, applied } = setup(source);
    loop.start();
    loop.start(); // a second start() is ignored
    await waitFor(() => applied.length >= 3, { timeoutMs: 3000, message: 'three refreshes' });
    await loop.close();
    const calls = source.calls;
    await sleep(250);
    expect(source.calls).toBe(calls);
  });

  test('a TTL shorter than the interval brings the next refresh sooner', async () => {
    const source = scripted([{ upstreams: ['http://10.0.0.1:3000'], ttlMs: 1000 }], {
      interval: 60_000,
    });
    const { loop } = setup(source);
    const started = Date.now();
    loop.start();
    await waitFor(() => source.calls >= 2, { timeoutMs: 4000, message: 'a refresh at TTL' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  test('after a failure the retry comes within about a second, not a whole interval', async () => {
    const source = scripted([new Error('down'), { upstreams: ['http://10.0.0.1:3000'] }], {
      interval: 60_000,
    });
    const { loop, applied, errors } = setup(source);
    loop.start();
    await waitFor(() => applied.length === 1, { timeoutMs: 4000, message: 'the retry' });
    expect(errors).toHaveLength(1);
  });

  test('ready() resolves after the first refresh, even a failed one', async () => {
    const failing = setup(scripted([new Error('down')]));
    failing.loop.start();
    await failing.loop.ready();
    expect(failing.errors).toHaveLength(1);

    const ok = setup(scripted([{ upstreams: ['http://10.0.0.1:3000'] }]));
    ok.loop.start();
    await ok.loop.ready();
    expect(ok.applied).toHaveLength(1);

    const closed = setup(scripted([{ upstreams: [] }]));
    await closed.loop.close();
    await closed.loop.ready(); // close() settles it too
  });

  test('refreshNow() while a refresh runs waits for it, then runs a fresh one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const source = scripted([
      async () => {
        await gate;
        return { upstreams: ['http://10.0.0.1:3000'] };
      },
      { upstreams: ['http://10.0.0.2:3000'] },
    ]);
    const { loop, applied } = setup(source);
    const first = loop.refreshNow();
    const second = loop.refreshNow();
    const third = loop.refreshNow(); // shares the queued one
    release();
    await Promise.all([first, second, third]);
    expect(source.calls).toBe(2);
    expect(applied.map(ids)).toEqual([['http://10.0.0.1:3000'], ['http://10.0.0.2:3000']]);
  });
});

describe('a hand-built source is checked at construction', () => {
  test.each([
    [{ interval: 0 }, /upstreams\.interval must be a positive number/],
    [{ interval: Number.NaN }, /upstreams\.interval/],
    [{ timeout: -1 }, /upstreams\.timeout/],
    [{ name: '' }, /upstreams\.name/],
  ])('%p', (overrides, message) => {
    expect(
      () =>
        new DiscoveryLoop({
          source: scripted([{ upstreams: [] }], overrides as Partial<DiscoverySource>),
          healthCheck: false,
          apply: () => {},
          onError: () => {},
        }),
    ).toThrow(message);
  });
});
