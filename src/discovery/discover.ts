// Owns discover(fn, options): a DiscoverySource over any source the user has — a service
// registry, a config file, a database, an HTTP endpoint. `fn` answers the full list of upstreams
// (URL strings or { url, id?, weight?, healthCheck? }) each time; it is only called, never
// trusted: the DiscoveryLoop bounds it with `timeout`, normalises every entry and skips bad ones.

import type { UpstreamInput } from '../options';
import { DiscoveryError } from './discovery-error';
import type { DiscoveryContext, DiscoveryResult, DiscoverySource } from './discovery-source';
import { bool, DEFAULT_DISCOVERY_INTERVAL, duration, fail, optionsObject } from './source-options';

/** Answers the upstreams there are now; `signal` aborts when the refresh times out or closes. */
export type DiscoverFunction = (
  context: DiscoveryContext,
) => Promise<readonly UpstreamInput[]> | readonly UpstreamInput[];

export interface DiscoverOptions {
  /** ms between calls (default 10 000). */
  interval?: number;
  /** ms one call may take before it counts as failed; default min(interval, 5000). */
  timeout?: number;
  /**
   * true: an empty list empties the pool. Default false: an empty list is reported as
   * 'discoveryError' and the last pool is kept (stale beats empty).
   */
  authoritative?: boolean;
  /** The source's name in events and stats() (default 'discover'). */
  name?: string;
}

const DISCOVER_KEYS = ['interval', 'timeout', 'authoritative', 'name'] as const;

export function discover(fn: DiscoverFunction, options?: DiscoverOptions): DiscoverySource {
  if (typeof fn !== 'function') {
    fail('ERR_LB_BAD_DISCOVERY', 'discover(fn)', 'an async () => list of upstreams', fn);
  }
  const input = optionsObject(options, 'discover()', DISCOVER_KEYS);
  const interval = duration(input.interval, 'discover().interval', DEFAULT_DISCOVERY_INTERVAL);
  const timeout =
    input.timeout === undefined ? undefined : duration(input.timeout, 'discover().timeout', 0);
  const authoritative = bool(input.authoritative, 'discover().authoritative', false);
  const name = input.name ?? 'discover';
  if (typeof name !== 'string' || name === '' || name.length > 256) {
    fail('ERR_LB_BAD_DISCOVERY', 'discover().name', 'a non-empty string', name);
  }
  return Object.freeze({
    kind: 'discovery' as const,
    name,
    interval,
    timeout,
    async resolve(context: DiscoveryContext): Promise<DiscoveryResult> {
      const list: unknown = await fn(context);
      if (!Array.isArray(list)) {
        throw new DiscoveryError(
          'ERR_LB_DISCOVERY_BAD_ANSWER',
          name,
          `discover(fn) must answer a list of upstreams, got ${
            list === null ? 'null' : typeof list
          }; pool kept`,
        );
      }
      return { upstreams: list as readonly UpstreamInput[], authoritative };
    },
  });
}
