// Owns the mapping from algorithm names to strategy factories, and accepts a user's Strategy.

import type { Strategy } from './strategy';
import { RoundRobin } from './round-robin';
import { SmoothWeightedRoundRobin } from './smooth-weighted-round-robin';
import { LeastConnections } from './least-connections';
import { WeightedLeastConnections } from './weighted-least-connections';
import { ResponseTime } from './response-time';
import { ConsistentHash } from './consistent-hash';
import { RandomStrategy } from './random';
import { PowerOfTwo } from './power-of-two';
import type { Random } from '../clock';

export const algorithmNames = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'weighted-least-connections',
  'response-time',
  'hash',
  'random',
  'power-of-two',
] as const;

export type AlgorithmName = (typeof algorithmNames)[number];

export function isAlgorithmName(value: string): value is AlgorithmName {
  return (algorithmNames as readonly string[]).includes(value);
}

/** A new strategy instance per balancer: strategies keep per-balancer state. */
export function createStrategy(algorithm: AlgorithmName | Strategy, random: Random): Strategy {
  if (typeof algorithm !== 'string') return algorithm;
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobin(random);
    case 'weighted-round-robin':
      return new SmoothWeightedRoundRobin(random);
    case 'least-connections':
      return new LeastConnections(random);
    case 'weighted-least-connections':
      return new WeightedLeastConnections(random);
    case 'response-time':
      return new ResponseTime();
    case 'hash':
      return new ConsistentHash(random);
    case 'random':
      return new RandomStrategy();
    case 'power-of-two':
      return new PowerOfTwo();
  }
}
