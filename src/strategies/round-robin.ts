// Owns 'round-robin': strict rotation over the routable candidates.
// Must not read the clock or Math.random(): the only randomness is the starting offset, drawn
// once from the Random given at construction, so many balancers started together do not all
// send their first request to the same upstream and then move in lockstep.
// Source: classic round robin (nginx's unweighted case, Envoy's RoundRobinLoadBalancer).

import type { Random } from '../clock';
import type { UpstreamView } from '../upstream';
import type { PickContext, Strategy } from './strategy';

export class RoundRobin implements Strategy {
  readonly name = 'round-robin';
  /** Index of the next pick; kept below candidates.length + 1 so it never grows unbounded. */
  private cursor: number;

  constructor(random: Random) {
    this.cursor = Math.floor(random.next() * 0x7fffffff);
  }

  pick(candidates: readonly UpstreamView[], _ctx: PickContext): UpstreamView | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    // When the candidate set shrinks or grows the rotation simply continues from the same
    // position: every candidate still gets exactly one pick per n.
    const i = this.cursor % n;
    this.cursor = i + 1;
    return candidates[i];
  }
}
