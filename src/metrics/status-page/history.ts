// Owns the status page's recent history: per-upstream attempts, failures and mean time to
// headers in fixed time buckets (a ring per upstream), and the balancer's own answers, fed by
// the balancer's observer hooks. Buckets roll over lazily on write and read, so it holds no timer.
// Must not: decide anything, touch the request path beyond counting, or grow without bound.

import type { BalancerObserver } from '../../balancer';
import type { RequestOutcome } from '../../strategies/strategy';
import type { UpstreamView } from '../../upstream';

/** One series as the page draws it: oldest bucket first, the current (partial) one excluded. */
export interface HistorySeries {
  /** Attempts that ended in each bucket (retries included). */
  readonly requests: number[];
  /** Attempts that failed to connect, timed out or were reset. */
  readonly errors: number[];
  /** Mean time to response headers in ms; null when no response ended in that bucket. */
  readonly latencyMs: Array<number | null>;
}

export interface HistoryWindow {
  /** Epoch ms at which the first bucket starts. */
  readonly start: number;
  readonly bucketMs: number;
  readonly upstreams: ReadonlyMap<string, HistorySeries>;
  /** Requests the balancer answered itself (502 / 503 / 504) per bucket. */
  readonly answered: number[];
}

class Ring {
  /** The bucket number each slot holds; a slot with another number is stale. */
  readonly stamp: Float64Array;
  readonly requests: Uint32Array;
  readonly errors: Uint32Array;
  readonly latencySum: Float64Array;
  readonly latencyCount: Uint32Array;
  last = -Infinity;

  constructor(size: number) {
    this.stamp = new Float64Array(size).fill(-1);
    this.requests = new Uint32Array(size);
    this.errors = new Uint32Array(size);
    this.latencySum = new Float64Array(size);
    this.latencyCount = new Uint32Array(size);
  }

  /** The slot of `bucket`, cleared if it held an older bucket. */
  slot(bucket: number): number {
    const i = bucket % this.stamp.length;
    if (this.stamp[i] !== bucket) {
      this.stamp[i] = bucket;
      this.requests[i] = 0;
      this.errors[i] = 0;
      this.latencySum[i] = 0;
      this.latencyCount[i] = 0;
    }
    this.last = bucket;
    return i;
  }

  has(bucket: number): number | undefined {
    const i = bucket % this.stamp.length;
    return this.stamp[i] === bucket ? i : undefined;
  }
}

export class StatusHistory implements BalancerObserver {
  private readonly size: number;
  private readonly rings = new Map<string, Ring>();
  private readonly balancerRing: Ring;
  private readonly firstBucket: number;

  constructor(
    readonly bucketMs: number,
    readonly historyMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.size = Math.ceil(historyMs / bucketMs) + 1;
    this.balancerRing = new Ring(this.size);
    this.firstBucket = this.bucket();
  }

  private bucket(): number {
    return Math.floor(this.now() / this.bucketMs);
  }

  attemptEnded(upstream: UpstreamView, outcome: RequestOutcome): void {
    let ring = this.rings.get(upstream.id);
    if (!ring) {
      ring = new Ring(this.size);
      this.rings.set(upstream.id, ring);
    }
    const i = ring.slot(this.bucket());
    ring.requests[i]!++;
    if (outcome.kind === 'response') {
      ring.latencySum[i]! += outcome.latencyMs;
      ring.latencyCount[i]!++;
    } else if (outcome.kind !== 'aborted') {
      ring.errors[i]!++;
    }
  }

  answered(): void {
    const i = this.balancerRing.slot(this.bucket());
    this.balancerRing.requests[i]!++;
  }

  /**
   * The complete buckets of the last `historyMs`, but none from before the history started,
   * and at least `minBuckets` of them so a fresh page has an axis to draw on.
   */
  read(minBuckets = 30): HistoryWindow {
    const current = this.bucket();
    const count = Math.min(
      this.size - 1,
      Math.max(Math.min(minBuckets, this.size - 1), current - this.firstBucket),
    );
    const first = current - count;
    const upstreams = new Map<string, HistorySeries>();
    for (const [id, ring] of this.rings) {
      if (ring.last < first) {
        this.rings.delete(id); // nothing left in the window: forget it (a removed upstream)
        continue;
      }
      const series: HistorySeries = { requests: [], errors: [], latencyMs: [] };
      for (let b = first; b < current; b++) {
        const i = ring.has(b);
        series.requests.push(i === undefined ? 0 : ring.requests[i]!);
        series.errors.push(i === undefined ? 0 : ring.errors[i]!);
        const n = i === undefined ? 0 : ring.latencyCount[i]!;
        series.latencyMs.push(n === 0 ? null : ring.latencySum[i!]! / n);
      }
      upstreams.set(id, series);
    }
    const answered: number[] = [];
    for (let b = first; b < current; b++) {
      const i = this.balancerRing.has(b);
      answered.push(i === undefined ? 0 : this.balancerRing.requests[i]!);
    }
    return { start: first * this.bucketMs, bucketMs: this.bucketMs, upstreams, answered };
  }

  /** Attempts per upstream id over the last `ms`, the current bucket included. */
  recentRequests(ms: number): Map<string, number> {
    const current = this.bucket();
    const first = current - Math.max(0, Math.ceil(ms / this.bucketMs) - 1);
    const totals = new Map<string, number>();
    for (const [id, ring] of this.rings) {
      let n = 0;
      for (let b = Math.max(first, current - this.size + 1); b <= current; b++) {
        const i = ring.has(b);
        if (i !== undefined) n += ring.requests[i]!;
      }
      totals.set(id, n);
    }
    return totals;
  }
}
