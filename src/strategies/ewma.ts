// Owns the decaying-average math behind 'response-time': one peak-EWMA latency estimate.
// Must not pick, read the clock or hold per-pool state: callers pass the time in.
//
// Source: Finagle's PeakEwma (com.twitter.finagle.loadbalancer.PeakEwma), as used by Linkerd:
// a sample above the estimate replaces it at once ("peak": slow gets noticed immediately), a
// sample below blends in with weight 1 - exp(-Δt/τ), where Δt is the time since the previous
// sample, so the average spans τ of wall time however uneven the sampling (Eckner, "Algorithms
// for unevenly spaced time series").
//
// Two changes from Finagle:
// - Finagle decays an estimate toward zero on every read, which also erodes a busy upstream's
//   average between samples. Here it starts to decay toward zero only once stale (no sample
//   for idleMs), with time constant idleMs: a busy upstream keeps a plain peak EWMA, one that
//   gets no traffic looks cheaper every second until it is tried again, and that sample then
//   counts almost fully (the old peak is forgotten).
// - A sample below the estimate weighs at least minSampleWeight. A delay common to every
//   upstream (a GC pause, a busy event loop in the balancer's own process) lands in every
//   sample in flight: it lifts the busy upstreams' peaks, not an idle slow one's. With this
//   floor a busy upstream forgets such a pause within a few dozen answers instead of τ
//   seconds, while one that keeps answering slowly keeps re-peaking. Rarely sampled upstreams
//   are unaffected (their time-based weight is larger anyway).

export interface PeakEwmaConfig {
  /** τ of the average, ms: how long a slow spell is remembered while samples keep coming. */
  readonly decayMs: number;
  /** After this long without a sample the estimate is stale and decays toward zero (ms). */
  readonly idleMs: number;
  /** Least weight one sample gets however close it follows the previous one (0..1). */
  readonly minSampleWeight: number;
}

/** exp(-elapsed / tau), 1 for elapsed ≤ 0. */
export function decayFactor(elapsedMs: number, tauMs: number): number {
  return elapsedMs <= 0 ? 1 : Math.exp(-elapsedMs / tauMs);
}

export class PeakEwma {
  /** Latest estimate, ms; meaningful once `measured`. */
  value = 0;
  /** Clock time of the latest sample. */
  sampledAt = 0;
  measured = false;

  constructor(private readonly config: PeakEwmaConfig) {}

  /** No sample for longer than idleMs: the estimate is being forgotten. */
  isStale(now: number): boolean {
    return now - this.sampledAt > this.config.idleMs;
  }

  /** The estimate as of `now`: the stored value, decayed toward zero once stale. */
  valueAt(now: number): number {
    const idle = this.config.idleMs;
    return this.value * decayFactor(now - this.sampledAt - idle, idle);
  }

  observe(sample: number, now: number): void {
    if (!this.measured) {
      this.value = sample;
      this.measured = true;
    } else {
      const current = this.valueAt(now);
      if (sample >= current) {
        this.value = sample;
      } else {
        const w = Math.min(
          decayFactor(now - this.sampledAt, this.config.decayMs),
          1 - this.config.minSampleWeight,
        );
        this.value = current * w + sample * (1 - w);
      }
    }
    this.sampledAt = now;
  }
}
