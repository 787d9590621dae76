// Owns the numbers stats() reports: top-level counters of client requests, and the snapshot of
// each upstream's own counters (attempts, retries included). Reads; decides nothing.

import type { HealthState, Upstream } from '../upstream';

export interface UpstreamStats {
  id: string;
  url: string;
  weight: number;
  health: HealthState;
  /** Out by passive health right now. */
  ejected: boolean;
  /** In flight now. */
  activeConnections: number;
  totalRequests: number;
  failedRequests: number;
  averageResponseTimeMs: number;
  /** 'static' (options), 'api' (addUpstream) or the discovery source that found it. */
  source: string;
}

export interface LoadBalancerStats {
  /** Requests the middleware handled. */
  totalRequests: number;
  /** Answered by an upstream (any status). */
  successfulRequests: number;
  /** Answered by the balancer: 502 / 503 / 504. */
  failedRequests: number;
  /** Mean time to upstream response headers. */
  averageResponseTimeMs: number;
  upstreams: UpstreamStats[];
}

export class StatsRecorder {
  private total = 0;
  private successful = 0;
  private failed = 0;
  private latencySumMs = 0;

  requestStarted(): void {
    this.total++;
  }

  requestAnswered(latencyMs: number): void {
    this.successful++;
    this.latencySumMs += latencyMs;
  }

  requestFailed(): void {
    this.failed++;
  }

  snapshot(members: readonly Upstream[], now: number): LoadBalancerStats {
    return {
      totalRequests: this.total,
      successfulRequests: this.successful,
      failedRequests: this.failed,
      averageResponseTimeMs: this.successful === 0 ? 0 : this.latencySumMs / this.successful,
      upstreams: members.map((u) => ({
        id: u.id,
        url: u.url,
        weight: u.weight,
        health: u.health,
        ejected: u.isEjected(now),
        activeConnections: u.inFlight,
        totalRequests: u.totalRequests,
        failedRequests: u.failedRequests,
        averageResponseTimeMs: u.averageResponseTimeMs,
        source: u.source,
      })),
    };
  }
}
