// Tests passive ejection with a ManualClock: thresholds, backoff and its cap, the decay of the
// ejection count, the maxEjectedPercent cap ("one may always be ejected"), 5xx and aborts.

import { ManualClock } from '../../../src/clock';
import { MAX_EJECTION_MULTIPLIER, OutlierDetector } from '../../../src/health/outlier-detector';
import type { PassiveHealthConfig } from '../../../src/options';
import type { RequestOutcome } from '../../../src/strategies/strategy';
import { Upstream } from '../../../src/upstream';

const EJECT_FOR = 1000;

const connectFailed: RequestOutcome = { kind: 'connect-failed' };
const timeout: RequestOutcome = { kind: 'timeout' };
const reset: RequestOutcome = { kind: 'reset' };
const aborted: RequestOutcome = { kind: 'aborted' };
const answer = (status: number): RequestOutcome => ({ kind: 'response', status, latencyMs: 5 });

interface Ejection {
  id: string;
  ms: number;
  reason: string;
}

function setup(options: Partial<PassiveHealthConfig> = {}, size = 4) {
  const config: PassiveHealthConfig = {
    failures: 3,
    ejectFor: EJECT_FOR,
    maxEjectedPercent: 50,
    on5xx: false,
    ...options,
  };
  const clock = new ManualClock(10_000);
  const members = Array.from(
    { length: size },
    (_, i) => new Upstream(`u${i}`, new URL(`http://127.0.0.1:${3000 + i}`), 1),
  );
  const ejections: Ejection[] = [];
  const detector = new OutlierDetector(
    config,
    clock,
    () => members,
    (upstream, ms, reason) => ejections.push({ id: upstream.id, ms, reason }),
  );
  /** Records `n` outcomes; returns what each call returned. */
  const record = (upstream: Upstream, outcome: RequestOutcome, n = 1): boolean[] =>
    Array.from({ length: n }, () => detector.recordOutcome(upstream, outcome));
  /** Fails `upstream` until ejected and returns the ejection's length. */
  const eject = (upstream: Upstream): number => {
    const before = ejections.length;
    record(upstream, connectFailed, config.failures);
    expect(ejections).toHaveLength(before + 1);
    return ejections.at(-1)!.ms;
  };
  return { config, clock, members, ejections, detector, record, eject };
}

describe('OutlierDetector', () => {
  test('`failures` consecutive failures eject for ejectFor; it returns once that has passed', () => {
    const { clock, members, ejections, record } = setup();
    const [u] = members as [Upstream];
    expect(record(u, connectFailed, 2)).toEqual([false, false]);
    expect(u.isRoutable(clock.now())).toBe(true);
    expect(record(u, connectFailed)).toEqual([true]);

    expect(u.ejectedUntil).toBe(clock.now() + EJECT_FOR);
    expect(u.isEjected(clock.now())).toBe(true);
    expect(u.isRoutable(clock.now())).toBe(false);
    expect(ejections).toEqual([
      { id: 'u0', ms: EJECT_FOR, reason: '3 consecutive failures (last: connect-failed)' },
    ]);

    clock.advance(EJECT_FOR - 1);
    expect(u.isRoutable(clock.now())).toBe(false);
    clock.advance(1);
    expect(u.isRoutable(clock.now())).toBe(true);
  });

  test('connect failures, timeouts and resets all count toward the same streak', () => {
    const { members, ejections, record } = setup();
    const [u] = members as [Upstream];
    record(u, connectFailed);
    record(u, timeout);
    expect(record(u, reset)).toEqual([true]);
    expect(ejections[0]!.reason).toBe('3 consecutive failures (last: reset)');
  });

  test('any success resets the streak', () => {
    const { members, ejections, record } = setup();
    const [u] = members as [Upstream];
    record(u, timeout, 2);
    record(u, answer(200));
    expect(record(u, timeout, 2)).toEqual([false, false]);
    expect(ejections).toEqual([]);
    expect(record(u, timeout)).toEqual([true]);
  });

  test("'aborted' (the client went away) neither counts nor resets", () => {
    const { members, ejections, record } = setup();
    const [u] = members as [Upstream];
    expect(record(u, aborted, 10)).toEqual(Array(10).fill(false));
    expect(ejections).toEqual([]);
    record(u, reset, 2);
    record(u, aborted, 5);
    expect(record(u, reset)).toEqual([true]);
  });

  test('5xx answers are successes by default, failures with on5xx', () => {
    const off = setup();
    const [a] = off.members as [Upstream];
    off.record(a, answer(503), 10);
    expect(off.ejections).toEqual([]);
    off.record(a, timeout, 2);
    off.record(a, answer(500)); // a success: resets the streak
    off.record(a, timeout, 2);
    expect(off.ejections).toEqual([]);

    const on = setup({ on5xx: true });
    const [b] = on.members as [Upstream];
    on.record(b, answer(502));
    on.record(b, answer(404)); // not a 5xx: resets
    on.record(b, answer(500), 2);
    expect(on.record(b, answer(503))).toEqual([true]);
    expect(on.ejections).toEqual([
      { id: 'u0', ms: EJECT_FOR, reason: '3 consecutive failures (last: http 503)' },
    ]);
  });

  test('each consecutive ejection lasts ejectFor × n, capped at 10 × ejectFor', () => {
    const { clock, members, eject, detector } = setup();
    const [u] = members as [Upstream];
    const lengths: number[] = [];
    for (let i = 0; i < 13; i++) {
      lengths.push(eject(u));
      clock.advance(lengths.at(-1)!); // back in the pool, and failing again at once
    }
    expect(lengths).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10].map((n) => n * EJECT_FOR));
    expect(detector.ejectionCount(u)).toBe(MAX_EJECTION_MULTIPLIER);
  });

  test('n drops by one per full ejectFor spent back in the pool, down to 0', () => {
    const { clock, members, eject, detector } = setup();
    const [u] = members as [Upstream];
    for (const ms of [1, 2, 3].map((n) => n * EJECT_FOR)) {
      expect(eject(u)).toBe(ms);
      clock.advance(ms);
    }
    expect(detector.ejectionCount(u)).toBe(3);

    // Back for 2.5 periods: n 3 → 1, so the next ejection is ejectFor × 2.
    clock.advance(2.5 * EJECT_FOR);
    expect(detector.ejectionCount(u)).toBe(1);
    expect(eject(u)).toBe(2 * EJECT_FOR);

    // Time spent ejected does not count; back for long, n is 0 and it starts over.
    clock.advance(2 * EJECT_FOR);
    expect(detector.ejectionCount(u)).toBe(2);
    clock.advance(10 * EJECT_FOR);
    expect(detector.ejectionCount(u)).toBe(0);
    expect(eject(u)).toBe(EJECT_FOR);
  });

  test('outcomes of attempts that end while it is ejected are ignored', () => {
    const { clock, members, ejections, record } = setup();
    const [u] = members as [Upstream];
    record(u, timeout, 3);
    const until = u.ejectedUntil;
    expect(record(u, timeout, 5)).toEqual(Array(5).fill(false));
    expect(u.ejectedUntil).toBe(until);
    expect(ejections).toHaveLength(1);
    // And they did not build a streak that would eject it on its first failure back.
    clock.advance(EJECT_FOR);
    expect(record(u, timeout)).toEqual([false]);
  });

  test('at most maxEjectedPercent of the members are out at once; the count is kept', () => {
    const { clock, members, ejections, record } = setup({ maxEjectedPercent: 50 }, 4);
    const [a, b, c] = members as [Upstream, Upstream, Upstream];
    expect(record(a, timeout, 3)).toEqual([false, false, true]); // 1 of 4
    expect(record(b, timeout, 3)).toEqual([false, false, true]); // 2 of 4 = 50 %
    expect(record(c, timeout, 3)).toEqual([false, false, false]); // 3 of 4 > 50 %
    expect(c.isEjected(clock.now())).toBe(false);
    expect(ejections.map((e) => e.id)).toEqual(['u0', 'u1']);

    // Once a and b are back, c's very next failure ejects it: its streak was kept.
    clock.advance(EJECT_FOR);
    expect(record(c, timeout)).toEqual([true]);
  });

  test.each([
    { name: 'two members at 10 %', size: 2, maxEjectedPercent: 10 },
    { name: 'ten members at 0 %', size: 10, maxEjectedPercent: 0 },
    { name: 'a single member at 50 %', size: 1, maxEjectedPercent: 50 },
  ])('one upstream may always be ejected: $name', ({ size, maxEjectedPercent }) => {
    const { members, ejections, record } = setup({ maxEjectedPercent }, size);
    for (const u of members) record(u, connectFailed, 3);
    expect(ejections.map((e) => e.id)).toEqual(['u0']);
  });

  test('forget(id) drops the ejection count of an upstream that left', () => {
    const { clock, members, eject, detector } = setup();
    const [u] = members as [Upstream];
    expect(eject(u)).toBe(EJECT_FOR);
    clock.advance(EJECT_FOR);
    detector.forget(u.id);
    expect(detector.ejectionCount(u)).toBe(0);
    expect(eject(u)).toBe(EJECT_FOR);
  });
});
