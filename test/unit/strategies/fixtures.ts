// Plain upstream objects and helpers shared by the strategy tests.

import fc from 'fast-check';
import { ManualClock, seededRandom, type Random } from '../../../src/clock';
import type { HealthState, UpstreamView } from '../../../src/upstream';
import type { PickContext, RequestOutcome, Strategy } from '../../../src/strategies/strategy';

/** An UpstreamView whose counters a test (playing the balancer) may change. */
export interface FakeUpstream extends UpstreamView {
  inFlight: number;
  health: HealthState;
}

export function upstream(id: string, weight = 1, inFlight = 0): FakeUpstream {
  return { id, url: `http://${id}.test`, weight, inFlight, health: 'healthy' };
}

/** Upstreams u0, u1, … with the given weights, as a frozen array like the pool's. */
export function pool(weights: readonly number[]): readonly FakeUpstream[] {
  return Object.freeze(weights.map((w, i) => upstream(`u${i}`, w)));
}

export function context(
  random: Random = seededRandom(1),
  clock = new ManualClock(0),
  key?: string,
): PickContext {
  return key === undefined ? { clock, random } : { clock, random, key };
}

/** What the balancer does around a request: in-flight +1 before onRequestStart, … */
export function begin(strategy: Strategy, u: UpstreamView): void {
  (u as FakeUpstream).inFlight++;
  strategy.onRequestStart?.(u);
}

/** … and in-flight −1 before onRequestEnd. */
export function finish(
  strategy: Strategy,
  u: UpstreamView,
  outcome: RequestOutcome = { kind: 'response', status: 200, latencyMs: 1 },
): void {
  (u as FakeUpstream).inFlight--;
  strategy.onRequestEnd?.(u, outcome);
}

/** n picks, each started and ended at once (a sequential client). */
export function sequentialPicks(
  strategy: Strategy,
  candidates: readonly UpstreamView[],
  n: number,
  ctx: PickContext = context(),
): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const u = strategy.pick(candidates, ctx)!;
    begin(strategy, u);
    finish(strategy, u);
    ids.push(u.id);
  }
  return ids;
}

export function countIds(ids: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of ids) counts[id] = (counts[id] ?? 0) + 1;
  return counts;
}

export function longestRun(ids: readonly string[]): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < ids.length; i++) {
    run = i > 0 && ids[i] === ids[i - 1] ? run + 1 : 1;
    if (run > longest) longest = run;
  }
  return longest;
}

/** Pearson's chi-square statistic of observed counts against expected counts. */
export function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i]!;
    sum += (observed[i]! - e) ** 2 / e;
  }
  return sum;
}

/** A pool of 1..12 upstreams with weights 1..10, for property tests. */
export const arbitraryWeights = fc.array(fc.integer({ min: 1, max: 10 }), {
  minLength: 1,
  maxLength: 12,
});
