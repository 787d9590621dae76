// Express / Connect glue: loadBalance(options) is a (req, res, next) function carrying the
// balancer's members. Express has already stripped the mount path from req.url, which is what
// the upstream gets. No other framework logic lives here.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Balancer, type BalancerInternals } from '../balancer';
import type { BalancerEventName, BalancerListener } from '../events';
import type { Options, UpstreamInput } from '../options';
import type { LoadBalancerStats } from '../metrics/stats';
import type { LoadBalancerMetrics } from '../metrics/prometheus';
import type { StatusPageMiddleware, StatusPageOptions } from '../metrics/status-page/status-page';
import type { UpstreamView } from '../upstream';

export interface BalancerMembers<Self> {
  /** Proxy an HTTP upgrade (WebSocket): `server.on('upgrade', lb.upgrade)`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  stats(): LoadBalancerStats;
  /** Stops probes and timers, closes keep-alive agents; idempotent. */
  close(): Promise<void>;
  /** One probe round now; resolves when it is done. */
  checkHealth(): Promise<void>;
  addUpstream(upstream: UpstreamInput): UpstreamView;
  /** No new requests; in-flight ones finish. False when no such upstream. */
  removeUpstream(id: string): boolean;
  /** Tie probes and timers to a server: they stop when it emits 'close'. */
  attach(server: Server): void;
  /** Resolves once a discovery source's first answer was applied (or failed); at once otherwise. */
  ready(): Promise<void>;
  on<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): Self;
  once<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): Self;
  off<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): Self;
  /** The framework-free core behind this middleware. */
  readonly balancer: Balancer;
  /** Middleware serving the live status page and its JSON: `app.use('/status', lb.statusPage())`. */
  statusPage(options?: StatusPageOptions): StatusPageMiddleware;
  /** Prometheus collectors (`registry`, `contentType`, `handler()`) when `metrics` is set. */
  readonly metrics: LoadBalancerMetrics | undefined;
}

export interface LoadBalancer extends BalancerMembers<LoadBalancer> {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
}

/** Copies the balancer's members onto a middleware function (shared with the Koa adapter). */
export function withMembers<F extends object>(fn: F, balancer: Balancer): F & BalancerMembers<F> {
  const self = fn as F & BalancerMembers<F>;
  return Object.assign(self, {
    upgrade: balancer.upgrade,
    stats: () => balancer.stats(),
    close: () => balancer.close(),
    checkHealth: () => balancer.checkHealth(),
    addUpstream: (upstream: UpstreamInput) => balancer.addUpstream(upstream),
    removeUpstream: (id: string) => balancer.removeUpstream(id),
    attach: (server: Server) => balancer.attach(server),
    ready: () => balancer.ready(),
    on: <E extends BalancerEventName>(event: E, listener: BalancerListener<E>) => {
      balancer.on(event, listener);
      return self;
    },
    once: <E extends BalancerEventName>(event: E, listener: BalancerListener<E>) => {
      balancer.once(event, listener);
      return self;
    },
    off: <E extends BalancerEventName>(event: E, listener: BalancerListener<E>) => {
      balancer.off(event, listener);
      return self;
    },
    balancer,
    statusPage: (options?: StatusPageOptions) => balancer.statusPage(options),
    metrics: balancer.metrics,
  });
}

export function loadBalance(options: Options, internals?: BalancerInternals): LoadBalancer {
  const balancer = new Balancer(options, internals);
  const middleware = (req: IncomingMessage, res: ServerResponse): void => balancer.handle(req, res);
  return withMembers(middleware, balancer) as LoadBalancer;
}
