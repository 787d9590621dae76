import { ManualClock, seededRandom, type Random } from '../../../src/clock';
import { decayFactor, PeakEwma } from '../../../src/strategies/ewma';
import { ResponseTime, type ResponseTimeOptions } from '../../../src/strategies/response-time';
import type { UpstreamView } from '../../../src/upstream';
import { begin, countIds, finish, pool, type FakeUpstream } from './fixtures';

/** A sequential client: pick, wait the upstream's latency (clock moves), record, repeat. */
function sequential(
  strategy: ResponseTime,
  candidates: readonly FakeUpstream[],
  latencyMs: (u: UpstreamView) => number,
  picks: number,
  clock: ManualClock,
  random: Random = seededRandom(1),
): string[] {
  const ids: string[] = [];
  for (let i = 0; i < picks; i++) {
    const u = strategy.pick(candidates, { clock, random })!;
    begin(strategy, u);
    const ms = latencyMs(u);
    clock.advance(ms);
    finish(strategy, u, { kind: 'response', status: 200, latencyMs: ms });
    ids.push(u.id);
  }
  return ids;
}

/**
 * A closed loop like the proxy benchmark: `clients` concurrent clients; one event loop that
 * spends cpuMs per request and per response and sometimes pauses (GC) for pauseMs; upstreams
 * that answer in their own time, concurrently. Measured latency includes the loop's queueing,
 * as it does in Express. Returns the share of picks that went to `slow` and the clients' p99.
 */
function closedLoop(
  options: ResponseTimeOptions,
  sim: { seconds: number; clients: number; cpuMs: number; pauseEveryMs: number; pauseMs: number },
) {
  const random = seededRandom(42);
  const clock = new ManualClock(0);
  const strategy = new ResponseTime({ ...options, clock });
  const candidates = pool([1, 1, 1]); // u2 is the slow one
  const serviceMs = (u: UpstreamView) => (u.id === 'u2' ? 51 : 1) + random.next() * 0.3;
  strategy.onMembersChanged(candidates);
  type Task = { sentAt: number; upstream?: FakeUpstream; startedAt?: number };
  const loop: Task[] = Array.from({ length: sim.clients }, () => ({ sentAt: 0 }));
  const upstreamDone: Array<{ at: number; task: Task }> = [];
  const latencies: number[] = [];
  let slow = 0;
  let total = 0;
  let t = 0;
  let nextPause = sim.pauseEveryMs;
  const warmup = 2000;
  while (t < sim.seconds * 1000) {
    upstreamDone.sort((a, b) => a.at - b.at);
    while (upstreamDone.length > 0 && (upstreamDone[0]!.at <= t || loop.length === 0)) {
      const done = upstreamDone.shift()!;
      t = Math.max(t, done.at);
      loop.push(done.task);
    }
    if (t >= nextPause) {
      t += sim.pauseMs;
      nextPause = t + sim.pauseEveryMs * (0.5 + random.next());
      continue;
    }
    const task = loop.shift()!;
    clock.advance(t - clock.now());
    if (task.upstream === undefined) {
      const u = strategy.pick(candidates, { clock, random }) as FakeUpstream;
      begin(strategy, u);
      if (t > warmup) {
        total++;
        if (u.id === 'u2') slow++;
      }
      upstreamDone.push({
        at: t + serviceMs(u),
        task: { sentAt: task.sentAt, upstream: u, startedAt: t },
      });
    } else {
      finish(strategy, task.upstream, {
        kind: 'response',
        status: 200,
        latencyMs: t - task.startedAt!,
      });
      if (t > warmup) latencies.push(t - task.sentAt);
      loop.push({ sentAt: t });
    }
    t += sim.cpuMs * (0.5 + random.next());
  }
  latencies.sort((a, b) => a - b);
  return { slowShare: slow / total, p99: latencies[Math.floor(0.99 * (latencies.length - 1))]! };
}

describe('response-time (P2C + peak EWMA)', () => {
  test('the faster upstream gets most picks', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const candidates = pool([1, 1]);
    const ids = sequential(rt, candidates, (u) => (u.id === 'u0' ? 5 : 50), 2000, clock);
    const counts = countIds(ids.slice(100));
    expect(counts.u0! / 1900).toBeGreaterThan(0.95);
  });

  test('shares shift when the latencies swap', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const candidates = pool([1, 1, 1]);
    let slowId = 'u2';
    const latency = (u: UpstreamView) => (u.id === slowId ? 50 : 2);
    const before = countIds(sequential(rt, candidates, latency, 3000, clock));
    expect(before.u2 ?? 0).toBeLessThan(3000 * 0.02);
    slowId = 'u0';
    sequential(rt, candidates, latency, 3000, clock); // about 10 s to adapt
    const after = countIds(sequential(rt, candidates, latency, 3000, clock));
    expect(after.u0 ?? 0).toBeLessThan(3000 * 0.02);
    // A sequential client's pair always goes to the lower estimate, so u1 and u2 need not
    // split evenly; u2 must at least win every pair against the now slow u0.
    expect(after.u2!).toBeGreaterThan(3000 * 0.3);
  });

  test('an unmeasured upstream is tried at once, and only once until it answers', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const members = pool([1, 1, 1]);
    const [a, b, fresh] = members as [FakeUpstream, FakeUpstream, FakeUpstream];
    rt.onMembersChanged([a, b]);
    sequential(rt, Object.freeze([a, b]), () => 5, 50, clock);
    rt.onMembersChanged(members);
    const random = seededRandom(3);
    const picked: string[] = [];
    for (let i = 0; i < 12; i++) {
      const u = rt.pick(members, { clock, random })!;
      begin(rt, u);
      picked.push(u.id);
    }
    expect(picked.slice(0, 3)).toContain(fresh.id);
    expect(countIds(picked)[fresh.id]).toBe(1);
  });

  test('concurrent picks (in flight rising, no answers yet) spread over the upstreams', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const candidates = pool([1, 1, 1]);
    // u0 a little faster than the others: it should get more, not everything.
    sequential(rt, candidates, (u) => (u.id === 'u0' ? 9 : 10), 300, clock);
    const random = seededRandom(5);
    for (let i = 0; i < 30; i++) begin(rt, rt.pick(candidates, { clock, random })!);
    const inFlight = candidates.map((u) => u.inFlight);
    expect(Math.max(...inFlight)).toBeLessThanOrEqual(15);
    expect(Math.min(...inFlight)).toBeGreaterThanOrEqual(5);
  });

  test('a slow upstream that gets no traffic is retried within seconds, and rarely', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const candidates = pool([1, 1, 1]);
    const latency = (u: UpstreamView) => (u.id === 'u2' ? 51 : 1);
    sequential(rt, candidates, latency, 3000, clock);
    // A sequential client at 1 ms plus 9 ms think time: 100 requests a second for 60 s.
    const random = seededRandom(8);
    const slowAt: number[] = [];
    for (let i = 0; i < 6000; i++) {
      const u = rt.pick(candidates, { clock, random })!;
      if (u.id === 'u2') slowAt.push(clock.now());
      begin(rt, u);
      clock.advance(latency(u));
      finish(rt, u, { kind: 'response', status: 200, latencyMs: latency(u) });
      clock.advance(9);
    }
    expect(slowAt.length).toBeGreaterThanOrEqual(8); // retried…
    expect(slowAt.length).toBeLessThan(6000 * 0.01); // …but not fed
    const gaps = slowAt.slice(1).map((t, i) => t - slowAt[i]!);
    expect(Math.max(...gaps)).toBeLessThan(10_000);
  });

  test('a recovered upstream is believed on its first fast answer after a retry', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const candidates = pool([1, 1]);
    const [a, b] = candidates as [FakeUpstream, FakeUpstream];
    sequential(rt, candidates, (u) => (u === b ? 80 : 2), 500, clock);
    expect(rt.estimateOf(b, clock.now())).toBeGreaterThan(50);
    clock.advance(5000);
    begin(rt, b);
    finish(rt, b, { kind: 'response', status: 200, latencyMs: 2 });
    expect(rt.estimateOf(b, clock.now())).toBeLessThan(5);
    expect(rt.estimateOf(a, clock.now())).toBeDefined();
  });

  test.each([
    { kind: 'connect-failed' as const },
    { kind: 'timeout' as const },
    { kind: 'reset' as const },
  ])('a $kind counts as a slow sample, so a failing upstream is avoided', (outcome) => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const candidates = pool([1, 1]);
    const [a, b] = candidates as [FakeUpstream, FakeUpstream];
    sequential(rt, candidates, () => 5, 100, clock);
    begin(rt, b);
    finish(rt, b, outcome);
    expect(rt.estimateOf(b, clock.now())).toBeGreaterThanOrEqual(1000);
    const ids = sequential(rt, candidates, () => 5, 100, clock);
    expect(countIds(ids)[a.id]).toBe(100);
  });

  test('an aborted request (the client left) says nothing about the upstream', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const [a] = pool([1]) as [FakeUpstream];
    begin(rt, a);
    finish(rt, a, { kind: 'aborted' });
    expect(rt.estimateOf(a, clock.now())).toBeUndefined();
  });

  test('10 clients, 1 ms / 1 ms / 51 ms upstreams, shared pauses in the loop: < 0.5 % slow, p99 < 10 ms', () => {
    const sim = { seconds: 12, clients: 10, cpuMs: 0.1, pauseEveryMs: 300, pauseMs: 40 };
    const result = closedLoop({}, sim);
    expect(result.slowShare).toBeLessThan(0.005);
    expect(result.p99).toBeLessThan(10);
    // Plain peak EWMA (no common-delay removal, Finagle's slow forgetting) fails the same run:
    // that is what share and minSampleWeight are for.
    const plain = closedLoop({ share: 1, minSampleWeight: 0 }, sim);
    expect(plain.slowShare).toBeGreaterThan(0.005);
  });

  test('pick reads time from the context and changes no estimate', () => {
    const clock = new ManualClock(0);
    const rt = new ResponseTime();
    const candidates = pool([1, 1]);
    sequential(rt, candidates, (u) => (u.id === 'u0' ? 3 : 30), 20, clock);
    const before = candidates.map((u) => rt.estimateOf(u, clock.now()));
    for (let i = 0; i < 50; i++) rt.pick(candidates, { clock, random: seededRandom(i) });
    expect(candidates.map((u) => rt.estimateOf(u, clock.now()))).toEqual(before);
  });
});

describe('PeakEwma', () => {
  const config = { decayMs: 10_000, idleMs: 1_000, minSampleWeight: 0 };

  test('jumps to a higher sample, blends a lower one by elapsed time', () => {
    const e = new PeakEwma(config);
    e.observe(10, 0);
    e.observe(40, 100);
    expect(e.value).toBe(40);
    e.observe(20, 600); // within idleMs: no forgetting; weight 1 - e^(-500/10000)
    const w = decayFactor(500, 10_000);
    expect(e.value).toBeCloseTo(40 * w + 20 * (1 - w), 10);
  });

  test('is steady while fresh and decays toward zero once stale', () => {
    const e = new PeakEwma(config);
    e.observe(50, 0);
    expect(e.valueAt(1_000)).toBe(50);
    expect(e.isStale(1_000)).toBe(false);
    expect(e.valueAt(2_000)).toBeCloseTo(50 * Math.exp(-1), 10);
    expect(e.isStale(2_000)).toBe(true);
  });

  test('minSampleWeight lets a busy estimate forget a one-off peak in a few dozen samples', () => {
    const e = new PeakEwma({ ...config, minSampleWeight: 0.05 });
    e.observe(1, 0);
    e.observe(40, 1);
    for (let t = 2; t < 80; t++) e.observe(1, t);
    expect(e.value).toBeLessThan(2);
  });
});
