// Tests the HealthChecker against real servers on 127.0.0.1 with short intervals: transitions,
// schedules that never overlap or block each other, checkNow(), remove(), close(), unref'd
// timers, and the jitter bounds (pure).

import { seededRandom, type Random } from '../../../src/clock';
import {
  HealthChecker,
  JITTER_FRACTION,
  jitteredInterval,
} from '../../../src/health/health-checker';
import type { ProbeResult } from '../../../src/health/probes';
import type { HealthCheckConfig } from '../../../src/options';
import { Upstream, type HealthState } from '../../../src/upstream';
import {
  hangingUpstream,
  sleep,
  slowUpstream,
  startUpstream,
  statusUpstream,
  waitFor,
  type TestUpstream,
  type UpstreamHandler,
} from '../../helpers/upstreams';

function config(overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return {
    type: 'http',
    path: '/health',
    method: 'GET',
    interval: 60_000,
    timeout: 2000,
    failureThreshold: 3,
    successThreshold: 2,
    expectStatus: (status) => status >= 200 && status < 400,
    headers: {},
    ...overrides,
  };
}

interface Change {
  id: string;
  from: HealthState;
  to: HealthState;
  reason: string;
}

const open: Array<{ close(): Promise<void> }> = [];
function track<T extends { close(): Promise<void> }>(thing: T): T {
  open.push(thing);
  return thing;
}
afterEach(async () => {
  // Checkers first (they were tracked later), then servers.
  for (const thing of open.splice(0).reverse()) await thing.close();
});

function setup(random: Random = seededRandom(1)): { checker: HealthChecker; changes: Change[] } {
  const changes: Change[] = [];
  const checker = track(
    new HealthChecker({
      random,
      onTransition: (upstream, from, to, reason) =>
        changes.push({ id: upstream.id, from, to, reason }),
    }),
  );
  return { checker, changes };
}

function upstreamFor(server: TestUpstream, id = server.url): Upstream {
  return new Upstream(id, new URL(server.url), 1);
}

async function serve<T extends TestUpstream>(server: Promise<T>): Promise<T> {
  return track(await server);
}

describe('jitteredInterval', () => {
  test(`stays within [interval, interval × ${1 + JITTER_FRACTION}) and spreads across it`, () => {
    const random = seededRandom(42);
    const samples = Array.from({ length: 10_000 }, () => jitteredInterval(1000, random));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...samples)).toBeLessThan(1100);
    expect(Math.min(...samples)).toBeLessThan(1005);
    expect(Math.max(...samples)).toBeGreaterThan(1095);
  });

  test('the extremes of Random map to the bounds', () => {
    expect(jitteredInterval(5000, { next: () => 0 })).toBe(5000);
    expect(jitteredInterval(5000, { next: () => 0.999999 })).toBeLessThan(5500);
    expect(jitteredInterval(5000, { next: () => 0.5 })).toBe(5250);
  });
});

describe('HealthChecker', () => {
  test('unknown → healthy on the first passed probe, which runs promptly after add()', async () => {
    const server = await serve(statusUpstream(200));
    const { checker, changes } = setup();
    const upstream = upstreamFor(server);
    checker.add(upstream, config({ interval: 60_000 }));
    expect(upstream.health).toBe('unknown');
    await waitFor(() => upstream.health === 'healthy', { message: 'first probe' });
    expect(changes).toEqual([
      { id: upstream.id, from: 'unknown', to: 'healthy', reason: 'http 200' },
    ]);
    expect(server.requests).toBe(1);
  });

  test('thresholds through checkNow(): failureThreshold fails, successThreshold passes', async () => {
    const server = await serve(statusUpstream(200));
    const { checker, changes } = setup();
    const upstream = upstreamFor(server);
    checker.add(upstream, config({ failureThreshold: 3, successThreshold: 2 }));
    await checker.checkNow();
    expect(upstream.health).toBe('healthy');

    server.status = 503;
    await checker.checkNow();
    await checker.checkNow();
    expect(upstream.health).toBe('healthy');
    await checker.checkNow();
    expect(upstream.health).toBe('unhealthy');

    server.status = 200;
    await checker.checkNow();
    expect(upstream.health).toBe('unhealthy');
    await checker.checkNow();
    expect(upstream.health).toBe('healthy');

    expect(changes).toEqual([
      { id: upstream.id, from: 'unknown', to: 'healthy', reason: 'http 200' },
      { id: upstream.id, from: 'healthy', to: 'unhealthy', reason: 'http 503' },
      { id: upstream.id, from: 'unhealthy', to: 'healthy', reason: 'http 200' },
    ]);
  });

  test('a stopped server turns unhealthy with ECONNREFUSED; back on its port, healthy again', async () => {
    const first = await serve(statusUpstream(200));
    const { checker, changes } = setup();
    const upstream = upstreamFor(first);
    checker.add(upstream, config({ type: 'tcp', failureThreshold: 2, successThreshold: 1 }));
    await checker.checkNow();
    expect(upstream.health).toBe('healthy');

    await first.close();
    await checker.checkNow();
    await checker.checkNow();
    expect(upstream.health).toBe('unhealthy');
    expect(changes.at(-1)).toMatchObject({ to: 'unhealthy', reason: 'ECONNREFUSED' });

    await serve(statusUpstream(200, first.port));
    await checker.checkNow();
    expect(upstream.health).toBe('healthy');
    expect(changes.map((c) => c.to)).toEqual(['healthy', 'unhealthy', 'healthy']);
  });

  test('on its own schedule: healthy → unhealthy → healthy with short intervals', async () => {
    const server = await serve(statusUpstream(200));
    const { checker, changes } = setup();
    const upstream = upstreamFor(server);
    checker.add(upstream, config({ interval: 50, failureThreshold: 2, successThreshold: 2 }));
    await waitFor(() => upstream.health === 'healthy', { message: 'healthy' });

    server.status = 503;
    await waitFor(() => upstream.health === 'unhealthy', { message: 'unhealthy' });
    server.status = 200;
    await waitFor(() => upstream.health === 'healthy', { message: 'healthy again' });

    expect(changes.map((c) => `${c.from}→${c.to} ${c.reason}`)).toEqual([
      'unknown→healthy http 200',
      'healthy→unhealthy http 503',
      'unhealthy→healthy http 200',
    ]);
  });

  test('a hanging upstream delays no other: its neighbour still flips on schedule', async () => {
    const hanging = await serve(hangingUpstream());
    const flipping = await serve(statusUpstream(200));
    const { checker, changes } = setup();
    const stuck = upstreamFor(hanging, 'stuck');
    const live = upstreamFor(flipping, 'live');
    // The stuck probe outlasts the whole test; close() aborts it.
    checker.add(stuck, config({ interval: 50, timeout: 20_000 }));
    checker.add(live, config({ interval: 50, failureThreshold: 2, successThreshold: 2 }));

    await waitFor(() => live.health === 'healthy', { message: 'live healthy' });
    flipping.status = 503;
    await waitFor(() => live.health === 'unhealthy', { message: 'live unhealthy' });
    flipping.status = 200;
    await waitFor(() => live.health === 'healthy', { message: 'live healthy again' });

    expect(changes.every((c) => c.id === 'live')).toBe(true);
    expect(stuck.health).toBe('unknown');
    expect(hanging.requests).toBe(1);
    expect(flipping.requests).toBeGreaterThanOrEqual(5);
  });

  test('checkNow() probes every upstream once, concurrently, and resolves when all are done', async () => {
    // One handler across three servers: it sees how many probes are in flight at once.
    let active = 0;
    let maxActive = 0;
    const handler: UpstreamHandler = (_req, res) => {
      maxActive = Math.max(maxActive, ++active);
      res.on('close', () => active--);
      setTimeout(() => res.end(), 300);
    };
    const servers = await Promise.all([1, 2, 3].map(() => serve(startUpstream(handler))));
    const { checker } = setup();
    const upstreams = servers.map((s) => upstreamFor(s));
    upstreams.forEach((u) => checker.add(u, config()));

    await checker.checkNow();
    expect(servers.map((s) => s.requests)).toEqual([1, 1, 1]);
    expect(upstreams.map((u) => u.health)).toEqual(['healthy', 'healthy', 'healthy']);
    expect(maxActive).toBe(3);

    await checker.checkNow();
    expect(servers.map((s) => s.requests)).toEqual([2, 2, 2]);
  });

  test('checkNow() while a probe is in flight waits for it, then runs a fresh one', async () => {
    let status = 200;
    const server = await serve(
      startUpstream((_req, res, n) => {
        const answer = status;
        // The first (scheduled) probe is slow, so checkNow() arrives while it is in flight.
        setTimeout(() => res.writeHead(answer).end(), n === 1 ? 300 : 0);
      }),
    );
    const { checker, changes } = setup();
    const upstream = upstreamFor(server);
    checker.add(upstream, config({ failureThreshold: 1 }));
    await waitFor(() => server.requests === 1, { message: 'scheduled probe in flight' });

    status = 503;
    await Promise.all([checker.checkNow(), checker.checkNow()]);
    // The in-flight probe answered 200 (decided before the flip), the fresh one 503; concurrent
    // calls shared that fresh probe, and the two never overlapped.
    expect(server.requests).toBe(2);
    expect(server.maxInFlight).toBe(1);
    expect(changes.map((c) => c.to)).toEqual(['healthy', 'unhealthy']);
  });

  test("one upstream's probes never overlap, under a short interval and repeated checkNow()", async () => {
    const server = await serve(slowUpstream(40));
    const { checker } = setup();
    checker.add(upstreamFor(server), config({ interval: 5 }));
    for (let round = 0; round < 5; round++) {
      await Promise.all([checker.checkNow(), checker.checkNow(), checker.checkNow()]);
    }
    await waitFor(() => server.requests >= 15, { message: '15 probes' });
    expect(server.maxInFlight).toBe(1);
  });

  test('remove() aborts the probe in flight and stops the schedule', async () => {
    const hanging = await serve(hangingUpstream());
    const ticking = await serve(statusUpstream(503));
    const { checker, changes } = setup();
    checker.add(upstreamFor(hanging, 'hanging'), config({ interval: 20, timeout: 20_000 }));
    checker.add(upstreamFor(ticking, 'ticking'), config({ interval: 20 }));
    await waitFor(() => hanging.requests === 1 && ticking.requests >= 3, { message: 'probing' });

    checker.remove('hanging');
    checker.remove('ticking');
    expect(checker.has('hanging')).toBe(false);
    // The aborted probe's socket is closed on the server side too.
    await waitFor(() => hanging.inFlight === 0, { message: 'hanging probe aborted' });
    await waitFor(() => ticking.inFlight === 0, { message: 'ticking probe settled' });
    const count = ticking.requests;
    await sleep(300);
    expect(ticking.requests).toBe(count);
    expect(hanging.requests).toBe(1);
    // A removed upstream's aborted probe is not a failure and changes nothing.
    expect(changes.filter((c) => c.id === 'hanging')).toEqual([]);
    checker.remove('hanging'); // unknown id: a no-op
  });

  test('an interval beyond the timer range is clamped, not turned into 1 ms', async () => {
    const server = await serve(statusUpstream(200));
    const { checker } = setup();
    checker.add(upstreamFor(server), config({ interval: 1e12 }));
    await waitFor(() => server.requests === 1, { message: 'first probe' });
    await sleep(200);
    expect(server.requests).toBe(1);
  });

  test('add() with an id already present replaces its schedule', async () => {
    const server = await serve(statusUpstream(200));
    const { checker } = setup();
    const upstream = upstreamFor(server);
    checker.add(upstream, config({ interval: 60_000 }));
    checker.add(upstream, config({ interval: 60_000 }));
    await checker.checkNow();
    await sleep(50);
    expect(server.requests).toBe(1);
  });

  test('close() aborts probes in flight, is idempotent, and ends everything', async () => {
    const hanging = await serve(hangingUpstream());
    const ok = await serve(statusUpstream(200));
    const { checker } = setup();
    checker.add(upstreamFor(hanging), config({ interval: 20, timeout: 20_000 }));
    checker.add(upstreamFor(ok), config({ interval: 20 }));
    await waitFor(() => hanging.requests === 1 && ok.requests >= 2, { message: 'probing' });

    const first = checker.close();
    const second = checker.close();
    expect(second).toBe(first);
    await first;
    await checker.close();
    expect(hanging.inFlight).toBe(0);

    const count = ok.requests;
    checker.add(upstreamFor(ok, 'late'), config({ interval: 20 }));
    await checker.checkNow();
    await sleep(200);
    expect(ok.requests).toBe(count);
  });

  test('a custom probe is used, and never two at once per upstream', async () => {
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    const checker = track(
      new HealthChecker({
        random: seededRandom(3),
        onTransition: () => {},
        probe: async (): Promise<ProbeResult> => {
          calls++;
          maxActive = Math.max(maxActive, ++active);
          await sleep(10);
          active--;
          return { passed: true, reason: 'custom' };
        },
      }),
    );
    const upstream = new Upstream('u', new URL('http://127.0.0.1:9'), 1);
    checker.add(upstream, config({ interval: 1 }));
    await Promise.all([checker.checkNow(), checker.checkNow()]);
    await waitFor(() => calls >= 10, { message: '10 probes' });
    expect(maxActive).toBe(1);
    expect(upstream.health).toBe('healthy');
  });

  test('its timers and probe sockets are unref’d: they never hold the process open', async () => {
    const hanging = await serve(hangingUpstream());
    const ok = await serve(statusUpstream(200));
    const count = (type: string): number =>
      process.getActiveResourcesInfo().filter((t) => t === type).length;
    // Let Jest's own start-up timers (when this test runs alone) finish before the baseline.
    await sleep(200);
    const timers = count('Timeout');
    const sockets = count('TCPSocketWrap');

    const { checker } = setup();
    // After checkNow() resolves, ok's next probe waits on a 60 s timer.
    checker.add(upstreamFor(ok, 'ok'), config());
    await checker.checkNow();
    // The hanging probe's 20 s timeout timer exists from the moment it starts.
    checker.add(upstreamFor(hanging, 'hanging'), config({ timeout: 20_000 }));
    await waitFor(() => hanging.requests === 1, { message: 'hanging probe in flight' });

    expect(count('Timeout')).toBe(timers);
    // Only the server's end of the hanging probe's connection stays ref'd, not the probe's own
    // (a ref'd probe socket would hold this at sockets + 2 until the 20 s timeout).
    await waitFor(() => count('TCPSocketWrap') === sockets + 1, { message: 'one ref’d socket' });
  });
});
