// Owns the DiscoverySource interface: something that answers "which upstreams are there now".
// dns() and discover() build one; the DiscoveryLoop polls it and the balancer diffs the pool. A
// source only answers: it does not schedule, normalise, validate entries or touch the pool.

import type { UpstreamInput } from '../options';

export interface DiscoveryResult {
  readonly upstreams: readonly UpstreamInput[];
  /** How long the answer stays valid (a DNS TTL); the next refresh comes no later. */
  readonly ttlMs?: number;
  /** An empty answer is applied only when the source says it is authoritative. */
  readonly authoritative?: boolean;
}

/** What one refresh gets: aborted when the refresh times out or the balancer closes. */
export interface DiscoveryContext {
  readonly signal: AbortSignal;
}

export interface DiscoverySource {
  readonly kind: 'discovery';
  /** For events and stats: e.g. "dns:http://users.internal:8080". */
  readonly name: string;
  /** ms between refreshes. */
  readonly interval: number;
  /** ms one refresh may take before it counts as failed; default min(interval, 5000). */
  readonly timeout?: number;
  /** For upstreams found by this source, the Host header to send when changeOrigin is set. */
  readonly originHost?: string;
  resolve(context: DiscoveryContext): Promise<DiscoveryResult>;
}

export function isDiscoverySource(value: unknown): value is DiscoverySource {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'discovery' &&
    typeof (value as { resolve?: unknown }).resolve === 'function'
  );
}
