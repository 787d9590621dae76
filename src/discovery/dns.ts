// Owns dns(url, options): a DiscoverySource that resolves the URL's host name and answers one
// upstream per address — the source URL with its host replaced by the address (IPv6 in
// brackets), so the id is that URL and stays the same while the address stays in DNS. It only
// resolves: the DiscoveryLoop schedules it, bounds it and decides what an empty answer means.
//
// A and AAAA (resolve4/resolve6 with { ttl: true }): the smallest TTL becomes the answer's
// ttlMs, so a short-lived record is looked up again when it expires. With `srv: true` the host
// name is queried for SRV records (RFC 2782): only the records of the lowest priority value are
// used (the others are backups this balancer does not tier), each target's addresses get the
// record's port and its weight (0 counts as 1). NXDOMAIN and "no records of that type" are an
// empty answer; any other failure (SERVFAIL, timeout, refused) fails the whole refresh, even when
// another query answered, because a partial answer would drain healthy upstreams.

import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { defaultUpstreamId, normalizeUrl, type UpstreamOptions } from '../options';
import type { DiscoveryContext, DiscoveryResult, DiscoverySource } from './discovery-source';
import { bool, DEFAULT_DISCOVERY_INTERVAL, duration, fail, optionsObject } from './source-options';

export interface DnsRecordWithTtl {
  readonly address: string;
  /** Seconds. */
  readonly ttl: number;
}

export interface DnsSrvRecord {
  /** The target host name. */
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/** What dns() needs of a resolver: `dns.promises.Resolver`, `dns.promises`, or your own. */
export interface DnsResolver {
  resolve4(hostname: string, options: { ttl: true }): Promise<readonly DnsRecordWithTtl[]>;
  resolve6(hostname: string, options: { ttl: true }): Promise<readonly DnsRecordWithTtl[]>;
  resolveSrv(hostname: string): Promise<readonly DnsSrvRecord[]>;
}

export interface DnsOptions {
  /** ms between resolutions (default 10 000); a shorter TTL brings the next one sooner. */
  interval?: number;
  /** Query SRV records for the host name; the records give each upstream's port and weight. */
  srv?: boolean;
  /** Default: a `dns.promises.Resolver` using the system's DNS servers (not /etc/hosts). */
  resolver?: DnsResolver;
  /** 4: A records only; 6: AAAA only; 0 (default): both. */
  family?: 0 | 4 | 6;
  /** ms one resolution may take before it counts as failed; default min(interval, 5000). */
  timeout?: number;
  /**
   * true: an empty answer (NXDOMAIN, no records) empties the pool. Default false: it is reported
   * as 'discoveryError' and the last pool is kept.
   */
  authoritative?: boolean;
}

const DNS_KEYS = ['interval', 'srv', 'resolver', 'family', 'timeout', 'authoritative'] as const;

/** "This name has no such records": an empty answer, not a failure. */
function isNoData(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return code === 'ENODATA' || code === 'ENOTFOUND';
}

/** The source URL with its host replaced by `address` (and its port by `port`, for SRV). */
function addressUrl(base: URL, address: string, port?: number): string {
  const url = new URL(base.href);
  url.hostname = isIP(address) === 6 ? `[${address}]` : address;
  if (port !== undefined) url.port = String(port);
  return url.href;
}

interface Addresses {
  readonly addresses: readonly string[];
  /** The smallest TTL, in ms; undefined when nothing was found. */
  readonly ttlMs: number | undefined;
}

async function addressesOf(
  resolver: DnsResolver,
  hostname: string,
  family: 0 | 4 | 6,
): Promise<Addresses> {
  if (isIP(hostname) !== 0) return { addresses: [hostname], ttlMs: undefined };
  const queries: Promise<readonly DnsRecordWithTtl[]>[] = [];
  if (family !== 6) queries.push(resolver.resolve4(hostname, { ttl: true }));
  if (family !== 4) queries.push(resolver.resolve6(hostname, { ttl: true }));
  const settled = await Promise.allSettled(queries);
  const addresses: string[] = [];
  let ttl = Infinity;
  for (const outcome of settled) {
    if (outcome.status === 'rejected') {
      if (isNoData(outcome.reason)) continue;
      throw outcome.reason;
    }
    for (const record of outcome.value) {
      addresses.push(record.address);
      if (Number.isFinite(record.ttl)) ttl = Math.min(ttl, record.ttl);
    }
  }
  return { addresses, ttlMs: ttl === Infinity ? undefined : ttl * 1000 };
}

function minTtl(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/**
 * A discovery source that keeps the pool in step with DNS: `dns('http://users.internal:8080')`.
 * Each address the name resolves to becomes an upstream `http://<address>:8080` (id: that URL);
 * with `changeOrigin`, `Host` stays `users.internal:8080`.
 */
export function dns(url: string, options?: DnsOptions): DiscoverySource {
  const base = normalizeUrl(url, 'dns(url)');
  const input = optionsObject(options, 'dns()', DNS_KEYS);
  const interval = duration(input.interval, 'dns().interval', DEFAULT_DISCOVERY_INTERVAL);
  const timeout =
    input.timeout === undefined ? undefined : duration(input.timeout, 'dns().timeout', 0);
  const srv = bool(input.srv, 'dns().srv', false);
  const authoritative = bool(input.authoritative, 'dns().authoritative', false);
  const family = input.family ?? 0;
  if (family !== 0 && family !== 4 && family !== 6) {
    fail('ERR_LB_BAD_DISCOVERY', 'dns().family', '0, 4 or 6', family);
  }
  const userResolver = input.resolver;
  if (userResolver !== undefined) {
    const methods = srv ? ['resolve4', 'resolve6', 'resolveSrv'] : ['resolve4', 'resolve6'];
    if (
      typeof userResolver !== 'object' ||
      userResolver === null ||
      methods.some((m) => typeof (userResolver as Record<string, unknown>)[m] !== 'function')
    ) {
      fail(
        'ERR_LB_BAD_DISCOVERY',
        'dns().resolver',
        `a dns.promises.Resolver or an object with ${methods.join(', ')}`,
        userResolver,
      );
    }
  }
  const hostname = base.hostname.startsWith('[') ? base.hostname.slice(1, -1) : base.hostname;
  const literal = isIP(hostname) !== 0;
  if (literal && srv) {
    fail('ERR_LB_BAD_DISCOVERY', 'dns().srv', 'used with a host name, not an IP address', url);
  }
  // The default resolver is this source's own, so a refresh that times out may cancel() its
  // queries without touching anyone else's; a resolver passed in is never cancelled.
  let own: Resolver | undefined;
  const resolverFor = (): { resolver: DnsResolver; cancel?: () => void } => {
    if (userResolver !== undefined) return { resolver: userResolver as DnsResolver };
    own ??= new Resolver();
    const resolver = own;
    return { resolver, cancel: () => resolver.cancel() };
  };

  async function resolveAll(resolver: DnsResolver): Promise<DiscoveryResult> {
    if (!srv) {
      const found = await addressesOf(resolver, hostname, family as 0 | 4 | 6);
      return {
        upstreams: found.addresses.map((address): UpstreamOptions => ({
          url: addressUrl(base, address),
        })),
        ttlMs: found.ttlMs,
        authoritative,
      };
    }
    let records: readonly DnsSrvRecord[];
    try {
      records = await resolver.resolveSrv(hostname);
    } catch (error) {
      if (!isNoData(error)) throw error;
      records = [];
    }
    // "." as the target means "no service here" (RFC 2782).
    const usable = records.filter((r) => r.name !== '' && r.name !== '.');
    const best = Math.min(...usable.map((r) => r.priority));
    const chosen = usable.filter((r) => r.priority === best);
    const targets = await Promise.all(
      chosen.map((r) => addressesOf(resolver, r.name, family as 0 | 4 | 6)),
    );
    const upstreams: UpstreamOptions[] = [];
    const seen = new Set<string>();
    let ttlMs: number | undefined;
    chosen.forEach((record, i) => {
      const found = targets[i]!;
      ttlMs = minTtl(ttlMs, found.ttlMs);
      for (const address of found.addresses) {
        const upstreamUrl = addressUrl(base, address, record.port);
        if (seen.has(upstreamUrl)) continue; // the same address and port twice: the first wins
        seen.add(upstreamUrl);
        upstreams.push({ url: upstreamUrl, weight: Math.max(1, record.weight) });
      }
    });
    return { upstreams, ttlMs, authoritative };
  }

  return Object.freeze({
    kind: 'discovery' as const,
    name: `${srv ? 'dns-srv' : 'dns'}:${defaultUpstreamId(base)}`,
    interval,
    timeout,
    originHost: base.host,
    async resolve({ signal }: DiscoveryContext): Promise<DiscoveryResult> {
      if (literal) {
        return { upstreams: [{ url: base.href }], authoritative };
      }
      const { resolver, cancel } = resolverFor();
      const onAbort = (): void => cancel?.();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        return await resolveAll(resolver);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
  });
}
