// Owns 'weighted-round-robin': nginx's smooth weighted round robin over the routable candidates.
// Must not read the clock or Math.random(); state is per upstream id and survives health flaps.
//
// Source: nginx commit 52327e0627f49dbda1e8db695e63a4b0af4448b1 "Upstream: smooth weighted
// round-robin balancing" (Maxim Dounin, 2012), ngx_http_upstream_get_peer() in
// src/http/ngx_http_upstream_round_robin.c. On every pick each candidate's current weight grows
// by its weight, the largest current weight wins, and the winner's current weight drops by the
// candidates' total weight. A peer that is down is skipped and keeps its current weight.
//
// What it guarantees: over every Σweight consecutive picks from the fresh state each upstream
// gets exactly its weight, and at every point its count is within one pick of its exact share,
// so heavy upstreams are interleaved with light ones. 5,1,1 gives a a b a c a a per cycle.
// Two cycles meet as "a a | a a", a run of 4: nginx behaves the same, and no sequence can do
// better than runs of 3 there (5 a's per cycle and only 2 others to separate them).
//
// One departure: nginx breaks a tie in favour of the first peer in its list; here the list is
// read from an offset drawn once from the constructor's Random, so balancers started together
// do not all send the same upstream the same sequence. Proportions and smoothness do not
// depend on the tie order.
//
// Cost: nginx scans every candidate, O(n) per pick: fine for small pools (done here up to
// scanLimit candidates), ~25 µs at 10,000. Above that the same choice is made with a kinetic
// tournament tree (Basch, Guibas, Hershberger, "Data Structures for Mobile Data", 1997):
// current weight i is the line base[i] + step × weight[i], each tree node keeps the winner of
// its subtree and the step at which a loser's steeper line will overtake it, and a pick only
// re-evaluates nodes whose certificate expired plus the winner's path: O(log² n) amortized.
// Both paths give nginx's exact sequence; the tests compare them with a transcription of it.

import type { Random } from '../clock';
import type { UpstreamView } from '../upstream';
import type { PickContext, Strategy } from './strategy';

export interface SmoothWeightedRoundRobinOptions {
  /** Up to this many candidates, scan them like nginx; above, use the tree. Default 64. */
  scanLimit?: number;
}

export class SmoothWeightedRoundRobin implements Strategy {
  readonly name = 'weighted-round-robin';

  private readonly scanLimit: number;
  /** Drawn once: where the tie order starts in any candidates array. */
  private readonly offset: number;
  /** Current weight per upstream id: survives the candidates changing, reset on membership. */
  private readonly saved = new Map<string, number>();

  /** The candidates array the typed arrays below are aligned with. */
  private aligned: readonly UpstreamView[] | undefined;
  private weight = new Float64Array(0);
  /** Current weight of i is base[i] + step × weight[i]. */
  private base = new Float64Array(0);
  private step = 0;
  private total = 0;
  /** Tie order: lower rank wins a tie. */
  private rank = new Int32Array(0);

  /** Tournament tree, used above scanLimit: node k has children 2k and 2k + 1. */
  private leaves = 0;
  private winner = new Int32Array(0);
  private expires = new Float64Array(0);

  constructor(random?: Random, options: SmoothWeightedRoundRobinOptions = {}) {
    this.offset = random === undefined ? 0 : Math.floor(random.next() * 0x7fffffff);
    this.scanLimit = options.scanLimit ?? 64;
  }

  onMembersChanged(_members: readonly UpstreamView[]): void {
    // nginx starts a reconfigured upstream block from zero; so do we.
    this.saved.clear();
    this.aligned = undefined;
  }

  pick(candidates: readonly UpstreamView[], _ctx: PickContext): UpstreamView | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    if (candidates !== this.aligned) this.align(candidates);
    // Keep base[i] + step × weight[i] exact: fold the step in long before 2^53 is near.
    if (this.step > 0x40000000) this.align(candidates);

    const step = ++this.step;
    let best: number;
    if (this.leaves === 0) {
      const { base, weight, rank } = this;
      best = 0;
      let bestValue = base[0]! + step * weight[0]!;
      for (let i = 1; i < n; i++) {
        const v = base[i]! + step * weight[i]!;
        if (v > bestValue || (v === bestValue && rank[i]! < rank[best]!)) {
          bestValue = v;
          best = i;
        }
      }
      this.base[best]! -= this.total;
    } else {
      this.refresh(1);
      best = this.winner[1]!;
      this.base[best]! -= this.total;
      for (let k = (this.leaves + best) >> 1; k >= 1; k >>= 1) this.evaluate(k);
    }
    return candidates[best];
  }

  /** Save the outgoing candidates' current weights by id, load the incoming ones' (O(n)). */
  private align(candidates: readonly UpstreamView[]): void {
    const old = this.aligned;
    if (old !== undefined) {
      for (let i = 0; i < old.length; i++) {
        this.saved.set(old[i]!.id, this.base[i]! + this.step * this.weight[i]!);
      }
    }
    const n = candidates.length;
    this.weight = new Float64Array(n);
    this.base = new Float64Array(n);
    this.rank = new Int32Array(n);
    this.step = 0;
    this.total = 0;
    const start = this.offset % n;
    for (let i = 0; i < n; i++) {
      const u = candidates[i]!;
      this.weight[i] = u.weight;
      this.base[i] = this.saved.get(u.id) ?? 0;
      this.rank[i] = (i - start + n) % n;
      this.total += u.weight;
    }
    this.aligned = candidates;

    if (n <= this.scanLimit) {
      this.leaves = 0;
      return;
    }
    let leaves = 1;
    while (leaves < n) leaves *= 2;
    this.leaves = leaves;
    this.winner = new Int32Array(2 * leaves).fill(-1);
    this.expires = new Float64Array(2 * leaves).fill(Infinity);
    for (let i = 0; i < n; i++) this.winner[leaves + i] = i;
    for (let k = leaves - 1; k >= 1; k--) this.evaluate(k);
  }

  /** At the current step, does i beat j? */
  private beats(i: number, j: number, step: number): boolean {
    const vi = this.base[i]! + step * this.weight[i]!;
    const vj = this.base[j]! + step * this.weight[j]!;
    return vi > vj || (vi === vj && this.rank[i]! < this.rank[j]!);
  }

  /** First step after `step` at which `loser` beats `winner` (Infinity if it never will). */
  private overtakes(winner: number, loser: number, step: number): number {
    const gain = this.weight[loser]! - this.weight[winner]!;
    if (gain <= 0) return Infinity;
    let at = Math.max(step + 1, Math.floor((this.base[winner]! - this.base[loser]!) / gain));
    // The division is rounded; settle on the exact integer step with exact comparisons.
    while (at > step + 1 && this.beats(loser, winner, at - 1)) at--;
    while (!this.beats(loser, winner, at)) at++;
    return at;
  }

  /** Recompute node k from its children, at the current step. */
  private evaluate(k: number): void {
    const left = this.winner[2 * k]!;
    const right = this.winner[2 * k + 1]!;
    const soonest = Math.min(this.expires[2 * k]!, this.expires[2 * k + 1]!);
    if (left < 0 || right < 0) {
      this.winner[k] = left < 0 ? right : left;
      this.expires[k] = soonest;
      return;
    }
    const step = this.step;
    const [w, l] = this.beats(left, right, step) ? [left, right] : [right, left];
    this.winner[k] = w;
    this.expires[k] = Math.min(soonest, this.overtakes(w, l, step));
  }

  /** Re-evaluate every node whose winner may have changed by now. */
  private refresh(k: number): void {
    if (this.expires[k]! > this.step) return;
    if (k < this.leaves) {
      this.refresh(2 * k);
      this.refresh(2 * k + 1);
      this.evaluate(k);
    }
  }
}
