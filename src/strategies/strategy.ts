// The one interface every balancing algorithm implements, built in or the user's own.
// pick() is pure and synchronous: no I/O, no Date.now(), no Math.random() — time and
// randomness come in through the context so tests can assert exact sequences.

import type { Clock, Random } from '../clock';
import type { UpstreamView } from '../upstream';

export interface PickContext {
  /** The request's hash key, for strategies that use one (consistent hashing). */
  readonly key?: string | undefined;
  readonly clock: Clock;
  readonly random: Random;
}

export type RequestOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly latencyMs: number }
  | { readonly kind: 'connect-failed' | 'timeout' | 'reset' | 'aborted' };

export interface Strategy {
  readonly name: string;
  /** Choose one of `candidates` (all routable, never empty when called), or undefined. */
  pick(candidates: readonly UpstreamView[], ctx: PickContext): UpstreamView | undefined;
  /** Pool membership changed (not health): rebuild rings, schedules, per-upstream state. */
  onMembersChanged?(members: readonly UpstreamView[]): void;
  onRequestStart?(upstream: UpstreamView): void;
  onRequestEnd?(upstream: UpstreamView, outcome: RequestOutcome): void;
}
