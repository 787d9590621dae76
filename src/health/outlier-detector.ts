// Owns passive health: it watches the outcome of each proxied attempt and ejects an upstream
// that keeps failing, by writing `upstream.ejectedUntil` — the only upstream field it writes.
// It must not probe, touch `health` (the health checker's) or keep timers: a return needs no
// event, because isRoutable(now) compares ejectedUntil with the clock.
//
// Modelled on Envoy's outlier detection (consecutive_5xx / consecutive_gateway_failure,
// base_ejection_time × ejections, max_ejection_percent):
// - `failures` consecutive connect failures, timeouts and resets (and 5xx answers with `on5xx`)
//   eject for ejectFor × n, n being the upstream's consecutive ejection count, at most 10 × ejectFor.
// - Any other answer resets the consecutive failure count; 'aborted' (the client left) is ignored.
// - n drops by one for each full ejectFor the upstream spends back in the pool, counted from its
//   return (Envoy decrements once per interval a host stays un-ejected); computed lazily on the
//   next outcome, so no timer is needed.
// - At most maxEjectedPercent of the members are out at once, but one may always be.

import type { Clock } from '../clock';
import type { PassiveHealthConfig } from '../options';
import type { RequestOutcome } from '../strategies/strategy';
import type { Upstream } from '../upstream';

/** The ejection multiplier stops growing here: ejectFor × 10 is the longest ejection. */
export const MAX_EJECTION_MULTIPLIER = 10;

interface OutlierState {
  consecutiveFailures: number;
  /** Consecutive ejections, the multiplier n of the next ejection's length minus one. */
  ejections: number;
  /** Clock time from which back-in-pool periods count toward decrementing `ejections`. */
  decayFrom: number;
  /** What the last failure was, for the eject reason. */
  lastFailure: string;
}

export class OutlierDetector {
  private readonly states = new Map<string, OutlierState>();

  constructor(
    private readonly config: PassiveHealthConfig,
    private readonly clock: Clock,
    private readonly members: () => Iterable<Upstream>,
    private readonly onEject: (upstream: Upstream, ms: number, reason: string) => void,
  ) {}

  /**
   * Records one attempt's outcome; true when it ejected `upstream` (the caller then rebuilds its
   * candidates). Call once per attempt, retries included.
   */
  recordOutcome(upstream: Upstream, outcome: RequestOutcome): boolean {
    if (outcome.kind === 'aborted') return false;
    const now = this.clock.now();
    const state = this.stateOf(upstream.id);
    const failure = this.failureOf(outcome);

    if (upstream.isEjected(now)) {
      // Attempts that were in flight when it was ejected say nothing new.
      return false;
    }
    this.decay(state, upstream, now);

    if (failure === undefined) {
      state.consecutiveFailures = 0;
      return false;
    }
    state.consecutiveFailures++;
    state.lastFailure = failure;
    if (state.consecutiveFailures < this.config.failures) return false;
    // Over the cap the count is kept, so the next failure tries again once room frees up.
    if (!this.mayEject(now)) return false;

    state.ejections = Math.min(state.ejections + 1, MAX_EJECTION_MULTIPLIER);
    const ms = this.config.ejectFor * state.ejections;
    upstream.ejectedUntil = now + ms;
    state.decayFrom = upstream.ejectedUntil;
    const reason = `${state.consecutiveFailures} consecutive failures (last: ${failure})`;
    state.consecutiveFailures = 0;
    this.onEject(upstream, ms, reason);
    return true;
  }

  /** Drops what is known about an upstream that left the pool. */
  forget(id: string): void {
    this.states.delete(id);
  }

  /** The consecutive ejection count n, for stats and tests (after decay as of `now`). */
  ejectionCount(upstream: Upstream): number {
    const state = this.states.get(upstream.id);
    if (!state) return 0;
    const now = this.clock.now();
    if (!upstream.isEjected(now)) this.decay(state, upstream, now);
    return state.ejections;
  }

  private stateOf(id: string): OutlierState {
    let state = this.states.get(id);
    if (!state) {
      state = { consecutiveFailures: 0, ejections: 0, decayFrom: 0, lastFailure: '' };
      this.states.set(id, state);
    }
    return state;
  }

  /** The failure this outcome counts as, or undefined when it is a success. */
  private failureOf(outcome: RequestOutcome): string | undefined {
    if (outcome.kind !== 'response') return outcome.kind;
    return this.config.on5xx && outcome.status >= 500 ? `http ${outcome.status}` : undefined;
  }

  private decay(state: OutlierState, upstream: Upstream, now: number): void {
    if (state.ejections === 0) return;
    // It is back: periods count from its return (ejectedUntil), not from the ejection.
    const from = Math.max(state.decayFrom, upstream.ejectedUntil);
    const periods = Math.floor((now - from) / this.config.ejectFor);
    if (periods <= 0) return;
    state.ejections = Math.max(0, state.ejections - periods);
    state.decayFrom = from + periods * this.config.ejectFor;
  }

  /** Envoy: eject while (ejected + 1) / members ≤ max %, or when nothing is ejected yet. */
  private mayEject(now: number): boolean {
    let total = 0;
    let ejected = 0;
    for (const member of this.members()) {
      total++;
      if (member.isEjected(now)) ejected++;
    }
    if (ejected === 0) return true;
    return (100 * (ejected + 1)) / Math.max(total, 1) <= this.config.maxEjectedPercent;
  }
}
