// Owns 'weighted-least-connections': the candidate with the fewest requests in flight per unit
// of weight (inFlight / weight), ties broken by weighted rotation (stride scheduling), so an
// idle pool is shared in proportion to weight rather than equally.
// Must not read the clock or Math.random(); the heap and its reasoning live in
// least-connections.ts, which this file only configures.
// Source: nginx's least_conn with weights (compares conns/weight); stride scheduling for ties.

import type { Random } from '../clock';
import { LeastConnections } from './least-connections';

export class WeightedLeastConnections extends LeastConnections {
  override readonly name: string = 'weighted-least-connections';

  constructor(random: Random) {
    super(random, true);
  }
}
