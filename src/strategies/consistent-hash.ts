// Owns 'hash': consistent, weighted hashing of the request's hash key onto an upstream.
// Must not read the clock or Math.random(), and must not rebuild anything on a health change:
// the ring covers all members and routability is only consulted while walking it.
//
// Algorithm: a ketama-style ring (Karger et al., "Consistent Hashing and Random Trees", 1997;
// libketama; Envoy's ring_hash). Each member owns pointsPerWeight × weight points on a 32-bit
// circle; a key goes to the owner of the first point at or after the key's hash, skipping
// owners that are not candidates. Hence:
// - a member's points depend only on its id and weight, so adding or removing one moves only
//   the keys it gains or loses, and changing a weight moves only the difference;
// - an upstream leaving the candidates (unhealthy, ejected) hands each of its keys to the next
//   candidate clockwise; no one else's keys move, nothing is rebuilt, and when it returns its
//   keys come back;
// - shares follow weights to within a few per cent (more points, less spread).
// Why not the others: rendezvous (HRW) hashing is O(n) per pick; Maglev's O(1) table must be
// rebuilt when an upstream leaves, which also moves a few other keys. The ring is O(log P) per
// pick (binary search over P points) plus a short walk past non-candidates; when candidates own
// fewer than 1 in 8 of the points the walk would be long, so a ring of only the candidates'
// points is derived once for that candidates array (same answers, O(log P) again).
// Points per weight shrink for large pools so the ring stays under maxRingPoints (about 100
// per member at 10,000 members): building it is a typed-array sort, done on membership change.
//
// Hash: FNV-1a 32-bit (Fowler, Noll, Vo) over the key's UTF-16 code units, finished with
// MurmurHash3's fmix32 so short, similar keys (IPs, paths) still spread over the whole circle.
// No key (ctx.key undefined): rotation over the candidates, from a random offset.

import type { Random } from '../clock';
import type { UpstreamView } from '../upstream';
import type { PickContext, Strategy } from './strategy';

export interface ConsistentHashOptions {
  /** Ring points per unit of weight. Default 160 (ketama's 40 × 4 points per server). */
  pointsPerWeight?: number;
  /** Upper bound on all members' points together. Default 2^20. */
  maxRingPoints?: number;
}

/** FNV-1a over UTF-16 code units, then MurmurHash3's 32-bit finalizer. */
export function hash32(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** MurmurHash3 fmix32: a bijection on 32-bit integers with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 2^21: ring entries pack (point, rank) into one exact double, so up to 2^21 members. */
const RANK_SPAN = 2097152;

interface Ring {
  /** Sorted points on the 32-bit circle. */
  points: Uint32Array;
  /** owners[i]: index into members of the owner of points[i]. */
  owners: Uint32Array;
}

/** What one candidates array allows: cached by the array's identity. */
interface View {
  candidates: readonly UpstreamView[];
  /** byMember[i]: the candidate object for members[i], or undefined when not routable. */
  byMember: (UpstreamView | undefined)[];
  /** A ring of only the candidates' points, when they are a small part of the members. */
  sparse: Ring | undefined;
  /** Candidates that are on the ring; 0 means the ring cannot answer. */
  onRing: number;
}

export class ConsistentHash implements Strategy {
  readonly name = 'hash';

  private readonly pointsPerWeight: number;
  private readonly maxRingPoints: number;
  private members: readonly UpstreamView[] = [];
  private memberIndex = new Map<string, number>();
  private ring: Ring = { points: new Uint32Array(0), owners: new Uint32Array(0) };
  /** pointCounts[i]: how many ring points members[i] owns. */
  private pointCounts: readonly number[] = [];
  private view: View | undefined;
  private cursor: number;

  constructor(random?: Random, options: ConsistentHashOptions = {}) {
    this.cursor = random === undefined ? 0 : Math.floor(random.next() * 0x7fffffff);
    this.pointsPerWeight = options.pointsPerWeight ?? 160;
    this.maxRingPoints = options.maxRingPoints ?? 1 << 20;
  }

  onMembersChanged(members: readonly UpstreamView[]): void {
    this.build(members);
  }

  pick(candidates: readonly UpstreamView[], ctx: PickContext): UpstreamView | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const key = ctx.key;
    if (key === undefined) {
      const i = this.cursor % n;
      this.cursor = i + 1;
      return candidates[i];
    }
    const view = this.view?.candidates === candidates ? this.view : this.viewOf(candidates);
    const h = hash32(key);
    if (view.onRing === 0) return candidates[h % n];
    if (view.sparse !== undefined) {
      const ring = view.sparse;
      return view.byMember[ring.owners[successor(ring.points, h)]!];
    }
    const { points, owners } = this.ring;
    const byMember = view.byMember;
    const size = points.length;
    let i = successor(points, h);
    for (let steps = 0; steps < size; steps++) {
      const u = byMember[owners[i]!];
      if (u !== undefined) return u;
      i = i + 1 === size ? 0 : i + 1;
    }
    return candidates[h % n]; // unreachable: onRing > 0 means some point is routable
  }

  /** O(members + candidates): which members may take keys now; cached per candidates array. */
  private viewOf(candidates: readonly UpstreamView[]): View {
    let missing = this.members.length === 0;
    for (let i = 0; !missing && i < candidates.length; i++) {
      missing = !this.memberIndex.has(candidates[i]!.id);
    }
    // The pool reports members first; a candidate it did not report (or a caller that never
    // reports members) still gets a place on the ring rather than being silently ignored.
    if (missing) this.build(mergeById(this.members, candidates));

    const byMember = new Array<UpstreamView | undefined>(this.members.length).fill(undefined);
    let onRing = 0;
    let candidatePoints = 0;
    for (const u of candidates) {
      const index = this.memberIndex.get(u.id);
      if (index !== undefined && byMember[index] === undefined) {
        byMember[index] = u;
        onRing++;
        candidatePoints += this.pointCounts[index]!;
      }
    }
    let sparse: Ring | undefined;
    // By points, not members: one heavy member out can leave long runs of points to walk past.
    if (onRing > 0 && candidatePoints * 8 < this.ring.points.length) {
      const { points, owners } = this.ring;
      let count = 0;
      for (let i = 0; i < points.length; i++) if (byMember[owners[i]!] !== undefined) count++;
      sparse = { points: new Uint32Array(count), owners: new Uint32Array(count) };
      for (let i = 0, k = 0; i < points.length; i++) {
        if (byMember[owners[i]!] === undefined) continue;
        sparse.points[k] = points[i]!;
        sparse.owners[k++] = owners[i]!;
      }
    }
    this.view = { candidates, byMember, sparse, onRing };
    return this.view;
  }

  private build(members: readonly UpstreamView[]): void {
    this.members = members.slice();
    this.memberIndex = new Map();
    for (let i = 0; i < this.members.length; i++) this.memberIndex.set(this.members[i]!.id, i);
    this.view = undefined;
    if (this.members.length >= RANK_SPAN) throw new RangeError('hash: at most 2^21 upstreams');

    let totalWeight = 0;
    for (const m of this.members) totalWeight += m.weight;
    const fit = Math.floor(this.maxRingPoints / Math.max(totalWeight, 1));
    // Weights go up to 10^6 each: past maxRingPoints even one point per unit of weight would
    // build a ring of millions of points on every membership change, so scale weights down
    // instead (each member keeps at least one point).
    const perWeight =
      fit >= 1 ? Math.min(this.pointsPerWeight, fit) : this.maxRingPoints / totalWeight;
    // Rank members by id so two members hashing to the same point are ordered the same way
    // whatever order the pool lists them in.
    const byId = this.members.map((_, i) => i);
    byId.sort((a, b) => compareIds(this.members[a]!.id, this.members[b]!.id));
    const counts = this.members.map((m) => Math.max(1, Math.round(m.weight * perWeight)));
    this.pointCounts = counts;
    let size = 0;
    for (const c of counts) size += c;

    // One double per point: point × 2^21 + rank, exact below 2^53, sorted natively.
    const packed = new Float64Array(size);
    let k = 0;
    for (let rank = 0; rank < byId.length; rank++) {
      const index = byId[rank]!;
      const base = hash32(this.members[index]!.id);
      const count = counts[index]!;
      for (let j = 0; j < count; j++) {
        // Point j of a member depends on its id and j only: weight changes add or drop points
        // at the end, and other members never move it.
        packed[k++] = fmix32((base + Math.imul(j, 0x9e3779b9)) >>> 0) * RANK_SPAN + rank;
      }
    }
    packed.sort();
    const points = new Uint32Array(size);
    const owners = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      const v = packed[i]!;
      const rank = v % RANK_SPAN;
      points[i] = (v - rank) / RANK_SPAN;
      owners[i] = byId[rank]!;
    }
    this.ring = { points, owners };
  }
}

/** Index of the first point ≥ h, wrapping to 0 past the end. */
function successor(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function mergeById(
  members: readonly UpstreamView[],
  extra: readonly UpstreamView[],
): UpstreamView[] {
  const seen = new Set(members.map((m) => m.id));
  const out = members.slice();
  for (const u of extra) {
    if (!seen.has(u.id)) {
      seen.add(u.id);
      out.push(u);
    }
  }
  return out;
}
