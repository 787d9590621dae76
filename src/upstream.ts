// Owns one upstream's identity and the fields each subsystem writes: health (health checker),
// ejectedUntil (outlier detector), draining (pool), inFlight and counters (balancer).
// It does no I/O and decides nothing beyond isRoutable().

export type HealthState = 'healthy' | 'unhealthy' | 'unknown';

/** What a Strategy (built in or the user's own) may read of an upstream. */
export interface UpstreamView {
  readonly id: string;
  /** The upstream's URL as configured, normalised. */
  readonly url: string;
  /** A positive integer, default 1. */
  readonly weight: number;
  /** Requests (or open upgraded sockets) in flight to this upstream now. */
  readonly inFlight: number;
  readonly health: HealthState;
}

export class Upstream implements UpstreamView {
  readonly id: string;
  readonly url: string;
  readonly target: URL;
  readonly weight: number;
  /** The upstream URL's base path without a trailing slash ('' for none), prefixed to every path. */
  readonly basePath: string;
  /** Where it came from: 'static' (options), 'api' (addUpstream) or a discovery source's name. */
  readonly source: string;

  health: HealthState = 'unknown';
  /** clock time until which passive health keeps it out; 0 when not ejected. */
  ejectedUntil = 0;
  /** Removed from the pool: takes no new requests, in-flight ones finish. */
  draining = false;

  inFlight = 0;
  totalRequests = 0;
  failedRequests = 0;
  private latencySumMs = 0;
  private latencyCount = 0;

  constructor(id: string, target: URL, weight: number, source = 'static') {
    this.id = id;
    this.target = target;
    this.url = target.href.replace(/\/$/, '');
    this.weight = weight;
    this.basePath = target.pathname.replace(/\/+$/, '');
    this.source = source;
  }

  isRoutable(now: number): boolean {
    return !this.draining && this.health !== 'unhealthy' && this.ejectedUntil <= now;
  }

  isEjected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /** A request (attempt) starts: in-flight +1. */
  begin(): void {
    this.inFlight++;
    this.totalRequests++;
  }

  /** The attempt that begin() started ended; call exactly once per begin(). */
  end(failed: boolean, latencyMs: number | undefined): void {
    this.inFlight--;
    if (failed) this.failedRequests++;
    if (latencyMs !== undefined) {
      this.latencySumMs += latencyMs;
      this.latencyCount++;
    }
  }

  get averageResponseTimeMs(): number {
    return this.latencyCount === 0 ? 0 : this.latencySumMs / this.latencyCount;
  }
}
