// Owns 'power-of-two': of two distinct random candidates, the one with fewer requests in flight.
// Must not call Math.random() (the coins are ctx.random) and must not change inFlight.
// Source: Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing" (2001); Envoy's
// least-request balancer and Finagle's P2C. O(1) per pick at any pool size; nearly as even
// as a full least-connections scan, and less prone to sending a burst to one upstream while
// its count is stale.
// Weights are not used: both draws are uniform and the comparison is raw inFlight, so this is
// exactly "least in-flight of two random candidates". A tie goes to the first draw, which is
// itself uniform, so ties are broken at random.

import type { UpstreamView } from '../upstream';
import type { PickContext, Strategy } from './strategy';

export class PowerOfTwo implements Strategy {
  readonly name = 'power-of-two';

  pick(candidates: readonly UpstreamView[], ctx: PickContext): UpstreamView | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = Math.min(n - 1, Math.floor(ctx.random.next() * n));
    // Draw the second among the other n - 1 so the two are always distinct.
    let j = Math.min(n - 2, Math.floor(ctx.random.next() * (n - 1)));
    if (j >= i) j++;
    const a = candidates[i]!;
    const b = candidates[j]!;
    return b.inFlight < a.inFlight ? b : a;
  }
}
