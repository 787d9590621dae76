// Owns 'least-connections' (and, through WeightedLeastConnections, the weighted variant): the
// candidate with the fewest requests in flight, ties broken in rotation.
// Must not read the clock or Math.random(), and must not change upstream.inFlight: the balancer
// owns that count; this file only mirrors it through onRequestStart / onRequestEnd.
//
// Algorithm: an indexed binary min-heap over the candidates, ordered by
// (load, pass, position). load = inFlight (÷ weight in the weighted variant). pass is a stride
// scheduler's pass value (Waldspurger & Weihl, "Stride Scheduling", 1995): a pick advances the
// winner's pass by 1/weight from the scheduler's virtual time, so among tied candidates the one
// picked longest ago (in weighted terms) goes next: a strict rotation when weights are equal, a
// weighted one otherwise, like nginx's least_conn falling back to weighted round robin on ties.
// Taking max(virtual time, pass) means an upstream that sat out busy does not come back with a
// burst of catch-up picks.
//
// Cost: pick, onRequestStart and onRequestEnd are O(log n); the heap is rebuilt in O(n) only
// when the (frozen) candidates array changes. A plain scan is O(n) per pick: tens of µs at
// 10,000 upstreams. The heap trusts the balancer's contract (inFlight changes are always
// followed by a hook); pick still re-checks the winner's live count before returning it.

import type { Random } from '../clock';
import type { UpstreamView } from '../upstream';
import type { PickContext, RequestOutcome, Strategy } from './strategy';

interface Node {
  upstream: UpstreamView;
  /** inFlight (÷ weight when weighted) as last seen. */
  load: number;
  /** Stride-scheduling pass: smaller goes first among equal loads. */
  pass: number;
  /** Position in the candidates array: the last, deterministic tie-break. */
  rank: number;
  /** Index in the heap, -1 when not a current candidate. */
  pos: number;
}

export class LeastConnections implements Strategy {
  readonly name: string = 'least-connections';

  /** Per upstream id, for the strategy's life: a pass value must outlive health flaps. */
  private readonly nodes = new Map<string, Node>();
  private heap: Node[] = [];
  private heapFor: readonly UpstreamView[] | undefined;
  /** The stride scheduler's virtual time: the pass of the latest pick. */
  private virtualTime = 0;

  constructor(
    private readonly random: Random,
    private readonly weighted = false,
  ) {}

  onMembersChanged(members: readonly UpstreamView[]): void {
    const ids = new Set<string>();
    for (const m of members) ids.add(m.id);
    for (const id of this.nodes.keys()) if (!ids.has(id)) this.nodes.delete(id);
    this.heapFor = undefined;
  }

  pick(candidates: readonly UpstreamView[], _ctx: PickContext): UpstreamView | undefined {
    if (candidates.length <= 1) return candidates[0];
    if (candidates !== this.heapFor) this.rebuild(candidates);
    const heap = this.heap;
    let top = heap[0]!;
    // The heap mirrors inFlight through the hooks; a stale winner is corrected and re-seated.
    // Each correction fixes one node for good, so this runs at most n times and usually zero.
    for (let load = this.loadOf(top.upstream); load !== top.load;) {
      top.load = load;
      this.siftDown(top.pos);
      top = heap[0]!;
      load = this.loadOf(top.upstream);
    }
    this.advance(top);
    this.siftDown(0);
    return top.upstream;
  }

  onRequestStart(upstream: UpstreamView): void {
    this.refresh(upstream);
  }

  onRequestEnd(upstream: UpstreamView, _outcome: RequestOutcome): void {
    this.refresh(upstream);
  }

  private loadOf(u: UpstreamView): number {
    return this.weighted ? u.inFlight / u.weight : u.inFlight;
  }

  private strideOf(u: UpstreamView): number {
    return this.weighted ? 1 / u.weight : 1;
  }

  private advance(node: Node): void {
    const start = node.pass > this.virtualTime ? node.pass : this.virtualTime;
    this.virtualTime = start;
    node.pass = start + this.strideOf(node.upstream);
  }

  /** Re-read one upstream's load after the balancer changed its in-flight count. */
  private refresh(upstream: UpstreamView): void {
    const node = this.nodes.get(upstream.id);
    if (node === undefined || node.pos < 0 || node.upstream !== upstream) return;
    const load = this.loadOf(upstream);
    if (load === node.load) return;
    const up = load < node.load;
    node.load = load;
    if (up) this.siftUp(node.pos);
    else this.siftDown(node.pos);
  }

  /** O(n): align the heap with a new candidates array, keeping each id's pass. */
  private rebuild(candidates: readonly UpstreamView[]): void {
    for (const node of this.heap) node.pos = -1;
    const heap: Node[] = new Array<Node>(candidates.length);
    for (let i = 0; i < candidates.length; i++) {
      const u = candidates[i]!;
      let node = this.nodes.get(u.id);
      if (node === undefined) {
        // A random phase within one stride: balancers started together rotate differently.
        node = {
          upstream: u,
          load: 0,
          pass: this.virtualTime + this.random.next() * this.strideOf(u),
          rank: 0,
          pos: -1,
        };
        this.nodes.set(u.id, node);
      }
      node.upstream = u;
      node.load = this.loadOf(u);
      node.rank = i;
      node.pos = i;
      heap[i] = node;
    }
    this.heap = heap;
    this.heapFor = candidates;
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(pos: number): void {
    const heap = this.heap;
    const node = heap[pos]!;
    while (pos > 0) {
      const parentPos = (pos - 1) >> 1;
      const parent = heap[parentPos]!;
      if (!before(node, parent)) break;
      heap[pos] = parent;
      parent.pos = pos;
      pos = parentPos;
    }
    heap[pos] = node;
    node.pos = pos;
  }

  private siftDown(pos: number): void {
    const heap = this.heap;
    const n = heap.length;
    const node = heap[pos]!;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(heap[right]!, heap[child]!)) child = right;
      const c = heap[child]!;
      if (!before(c, node)) break;
      heap[pos] = c;
      c.pos = pos;
      pos = child;
    }
    heap[pos] = node;
    node.pos = pos;
  }
}

function before(a: Node, b: Node): boolean {
  if (a.load !== b.load) return a.load < b.load;
  if (a.pass !== b.pass) return a.pass < b.pass;
  return a.rank < b.rank;
}
