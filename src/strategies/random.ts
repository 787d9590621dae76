// Owns 'random': a uniformly random candidate per pick.
// Must not call Math.random(): the coin is ctx.random, so tests can seed it. Weights are not
// used (weighted-round-robin and weighted-least-connections are the weighted choices).
// Source: Envoy's RandomLoadBalancer; useful mostly as a baseline.

import type { UpstreamView } from '../upstream';
import type { PickContext, Strategy } from './strategy';

export class RandomStrategy implements Strategy {
  readonly name = 'random';

  pick(candidates: readonly UpstreamView[], ctx: PickContext): UpstreamView | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    // min(): a Random that returns 1 (outside its contract) still yields a candidate.
    return candidates[Math.min(n - 1, Math.floor(ctx.random.next() * n))];
  }
}
