// Owns the DiscoverySource interface: something that answers "which upstreams are there now".
// dns() and discover() build one; the balancer's discovery loop polls it and diffs the pool.

import type { UpstreamInput } from '../options';

export interface DiscoveryResult {
  readonly upstreams: readonly UpstreamInput[];
  /** How long the answer stays valid (a DNS TTL); the next refresh comes no later. */
  readonly ttlMs?: number;
  /** An empty answer is applied only when the source says it is authoritative. */
  readonly authoritative?: boolean;
}

export interface DiscoverySource {
  readonly kind: 'discovery';
  /** For events and stats: e.g. "dns:http://users.internal:8080". */
  readonly name: string;
  /** ms between refreshes. */
  readonly interval: number;
  /** For upstreams found by this source, the Host header to send when changeOrigin is set. */
  readonly originHost?: string;
  resolve(): Promise<DiscoveryResult>;
}

export function isDiscoverySource(value: unknown): value is DiscoverySource {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'discovery' &&
    typeof (value as { resolve?: unknown }).resolve === 'function'
  );
}
