// Owns 'response-time': prefer upstreams that answer faster, without herding concurrent
// requests onto one of them and without starving a slow one.
// Must not read Date.now() or Math.random() (time and coins come from the PickContext) and must
// not change upstream.inFlight. The averaging math lives in ewma.ts.
//
// Sources: Finagle / Linkerd "P2C + peak EWMA" (com.twitter.finagle.loadbalancer.PeakEwma,
// tower::load::PeakEwma): cost = latency estimate × (inFlight + 1), two random candidates
// compared (Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing", 2001).
//
// Choices, and why:
// - Power of two choices, not the global minimum: the cheapest upstream cannot take every pick
//   between two measurements, and it is O(1) at any pool size.
// - inFlight in the cost spreads a burst of concurrent picks made before any answer returns.
// - A delay common to every upstream (the balancer's own event-loop queueing is inside every
//   measured latency) must not erase the difference between a 1 ms and a 51 ms upstream: with
//   cost = latency × (inFlight + 1), 20 ms of shared queueing turns 1 vs 51 into 21 vs 71, and a
//   fast upstream with 3 requests in flight would already lose. So the pair is compared after
//   subtracting most of their common part: cost = (latency − (1 − share) × min(la, lb)) ×
//   (inFlight + 1). With share = 1 this is plain peak EWMA; the default 0.2 keeps a fifth of
//   the shared latency so inFlight still balances two upstreams of similar speed.
// - A sample below the estimate weighs at least minSampleWeight (see ewma.ts): a GC pause in
//   the balancer lifts the busy upstreams' peaks, not an idle slow one's, and Finagle's
//   10 s memory would then make the slow upstream look competitive for seconds.
//   The defaults (share 0.2, minSampleWeight 0.05) were chosen with the closed-loop simulation
//   in test/unit/strategies/response-time.test.ts (10 clients; upstreams at 1, 1 and 51 ms;
//   a 40 ms pause every ~300 ms): 0.12 % of requests reach the slow upstream, p99 2.4 ms;
//   plain peak EWMA (share 1, no floor) sends it 0.96 %, p99 42 ms.
// - Never starving: an upstream with no sample for idleMs has a stale estimate that decays
//   toward zero (time constant idleMs). Decaying toward the pool's best would only approach it
//   from above, and a sequential client would never retry; decaying toward zero crosses every
//   other upstream's cost, so a 50× slower upstream is retried after about idleMs × (1 + ln 25),
//   ≈ 4 s by default, whatever the request rate. An exploration probability would instead tie
//   the retry delay to the request rate. The retry's sample counts almost fully, so recovery is
//   seen on the first request and a still-slow upstream jumps straight back to its peak.
// - Tried, not flooded: an upstream with no estimate and nothing in flight is tried first
//   (Finagle's cost 0); while its first request (or the first after going stale) is in flight,
//   it is passed over, like Finagle's penalty for "no history but pending", so a burst does not
//   pile onto an unknown.
// - Failures (connect-failed, timeout, reset) count as a sample of failurePenaltyMs (or twice
//   the estimate, if larger); 'aborted' is the client leaving and says nothing. Responses count
//   their latency whatever the status: persistent 5xx is passive health's job.
// - Weights are not used: the measured speed is the weight.

import { systemClock, type Clock } from '../clock';
import type { UpstreamView } from '../upstream';
import { PeakEwma, type PeakEwmaConfig } from './ewma';
import type { PickContext, RequestOutcome, Strategy } from './strategy';

export interface ResponseTimeOptions {
  /** τ of the latency average, ms. Default 10 000 (Finagle's and Linkerd's default). */
  decayMs?: number;
  /** An upstream with no sample for this long is retried soon after (ms). Default 1 000. */
  idleMs?: number;
  /** Least weight of one sample below the estimate, 0..1. Default 0.05. */
  minSampleWeight?: number;
  /** Part of two upstreams' common latency kept in the comparison, 0..1. Default 0.2. */
  share?: number;
  /** Latency counted for a failed attempt, ms. Default 1 000. */
  failurePenaltyMs?: number;
  /**
   * Clock for onRequestEnd, which gets no context; default: the clock of the latest pick's
   * context (the balancer passes the same clock to every pick).
   */
  clock?: Clock;
}

const TRY = 0; // no estimate, nothing in flight: try it
const MEASURED = 1; // compare by cost
const WAIT = 2; // no usable estimate and a request in flight: wait for its answer

export class ResponseTime implements Strategy {
  readonly name = 'response-time';

  private readonly config: PeakEwmaConfig;
  private readonly share: number;
  private readonly failurePenaltyMs: number;
  private readonly fixedClock: Clock | undefined;
  private lastClock: Clock | undefined;
  private readonly estimates = new Map<string, PeakEwma>();

  constructor(options: ResponseTimeOptions = {}) {
    this.config = {
      decayMs: options.decayMs ?? 10_000,
      idleMs: options.idleMs ?? 1_000,
      minSampleWeight: options.minSampleWeight ?? 0.05,
    };
    this.share = options.share ?? 0.2;
    this.failurePenaltyMs = options.failurePenaltyMs ?? 1_000;
    this.fixedClock = options.clock;
  }

  onMembersChanged(members: readonly UpstreamView[]): void {
    const ids = new Set<string>();
    for (const m of members) ids.add(m.id);
    for (const id of this.estimates.keys()) if (!ids.has(id)) this.estimates.delete(id);
  }

  pick(candidates: readonly UpstreamView[], ctx: PickContext): UpstreamView | undefined {
    this.lastClock = ctx.clock;
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = Math.min(n - 1, Math.floor(ctx.random.next() * n));
    let j = Math.min(n - 2, Math.floor(ctx.random.next() * (n - 1)));
    if (j >= i) j++;
    const a = candidates[i]!;
    const b = candidates[j]!;
    return this.prefers(a, b, ctx.clock.now()) ? a : b;
  }

  onRequestEnd(upstream: UpstreamView, outcome: RequestOutcome): void {
    if (outcome.kind === 'aborted') return;
    const now = (this.fixedClock ?? this.lastClock ?? systemClock).now();
    let estimate = this.estimates.get(upstream.id);
    if (estimate === undefined) {
      estimate = new PeakEwma(this.config);
      this.estimates.set(upstream.id, estimate);
    }
    const sample =
      outcome.kind === 'response'
        ? Math.max(outcome.latencyMs, 0)
        : Math.max(this.failurePenaltyMs, 2 * (estimate.measured ? estimate.valueAt(now) : 0));
    estimate.observe(sample, now);
  }

  /** The estimate of one upstream, for tests and diagnostics: undefined until measured. */
  estimateOf(upstream: UpstreamView, now: number): number | undefined {
    const estimate = this.estimates.get(upstream.id);
    return estimate?.measured ? estimate.valueAt(now) : undefined;
  }

  /** True when `a` should get the request rather than `b`; `a` wins exact ties. */
  private prefers(a: UpstreamView, b: UpstreamView, now: number): boolean {
    const ea = this.estimates.get(a.id);
    const eb = this.estimates.get(b.id);
    const ca = classOf(ea, a, now);
    const cb = classOf(eb, b, now);
    if (ca !== cb) return ca < cb;
    if (ca === TRY) return true;
    if (ca === WAIT) return a.inFlight <= b.inFlight;
    // Both measured: compare after removing most of the latency they share.
    const la = Math.max(ea!.valueAt(now), 1e-3);
    const lb = Math.max(eb!.valueAt(now), 1e-3);
    const common = (1 - this.share) * (la < lb ? la : lb);
    const costA = (la - common) * (a.inFlight + 1);
    const costB = (lb - common) * (b.inFlight + 1);
    if (costA !== costB) return costA < costB;
    return a.inFlight <= b.inFlight;
  }
}

function classOf(estimate: PeakEwma | undefined, u: UpstreamView, now: number): number {
  if (estimate === undefined || !estimate.measured) return u.inFlight === 0 ? TRY : WAIT;
  return u.inFlight > 0 && estimate.isStale(now) ? WAIT : MEASURED;
}
