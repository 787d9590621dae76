// Owns the Prometheus collectors (the `metrics` option): loads prom-client lazily (an optional
// peer dependency), registers one set of collectors per (registry, prefix) shared by every
// balancer using that pair, feeds counters and the histogram from the balancer's observer hooks
// and events, and computes gauges at scrape time from stats(). Must not: touch the request path
// beyond the observer hooks, hold a timer, or format the exposition itself (prom-client does).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as PromClient from 'prom-client';
import type { Balancer } from '../balancer';
import { OptionsError } from '../errors';
import type { RequestOutcome } from '../strategies/strategy';
import type { HealthState } from '../upstream';
import type { LoadBalancerStats } from './stats';

/** What the balancer needs of a prom-client `Registry` (yours, or the one it creates). */
export interface MetricsRegistry {
  /** The exposition text of every metric in the registry. */
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** A node-style middleware: Express / Connect, plain node:http, or Koa through ctx.req/ctx.res. */
export type NodeMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

/** `lb.metrics` when the `metrics` option is set. */
export interface LoadBalancerMetrics {
  /** The prom-client Registry the collectors live in: `metrics.registry`, or a new Registry. */
  readonly registry: MetricsRegistry;
  /** The exposition's Content-Type. */
  readonly contentType: string;
  /** Middleware serving the registry's exposition: `app.get('/metrics', lb.metrics.handler())`. */
  handler(): NodeMiddleware;
}

/** The buckets of the header-time histogram, in seconds: 1 ms … 30 s (the default `timeout`). */
export const HEADER_TIME_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

const HEALTH_STATES: readonly HealthState[] = ['healthy', 'unhealthy', 'unknown'];
const BALANCER_STATUSES = ['502', '503', '504'] as const;

type PromClientModule = typeof PromClient;
type AnyRegistry = PromClient.Registry;

interface Collectors {
  readonly requests: PromClient.Counter<'upstream' | 'status_class'>;
  readonly headerTime: PromClient.Histogram<'upstream'>;
  readonly retries: PromClient.Counter<'upstream'>;
  readonly ejections: PromClient.Counter<'upstream'>;
  readonly answered: PromClient.Counter<'status'>;
  /** The balancers whose gauges are reported: removed when a balancer stops. */
  readonly sources: Set<() => LoadBalancerStats>;
}

/** Collectors shared by every balancer with the same registry and prefix. */
const sharedCollectors = new WeakMap<object, Map<string, Collectors>>();

let promClient: PromClientModule | undefined;

function loadPromClient(): PromClientModule {
  if (promClient) return promClient;
  try {
    // Lazily, so that prom-client stays an optional peer dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    promClient = require('prom-client') as PromClientModule;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'MODULE_NOT_FOUND' && String(error).includes('prom-client')) {
      throw new OptionsError(
        'ERR_LB_METRICS_UNAVAILABLE',
        'metrics',
        'the metrics option needs the optional peer dependency prom-client (>= 14): ' +
          'run `npm install prom-client`, or leave metrics off',
      );
    }
    throw error;
  }
  return promClient;
}

function isRegistry(value: unknown): value is AnyRegistry {
  const r = value as Partial<Record<string, unknown>> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.registerMetric === 'function' &&
    typeof r.getSingleMetric === 'function' &&
    typeof r.metrics === 'function'
  );
}

/** The `status_class` label of an attempt's outcome. */
export function statusClass(outcome: RequestOutcome): string {
  if (outcome.kind === 'aborted') return 'aborted';
  if (outcome.kind !== 'response') return 'error';
  const hundreds = Math.floor(outcome.status / 100);
  return hundreds >= 1 && hundreds <= 5 ? `${hundreds}xx` : 'error';
}

function metricNames(prefix: string): string[] {
  return [
    'upstream_requests_total',
    'upstream_header_time_seconds',
    'upstream_requests_in_flight',
    'upstream_health',
    'upstream_ejected',
    'upstream_ejections_total',
    'upstream_retries_total',
    'balancer_responses_total',
  ].map((name) => prefix + name);
}

function createCollectors(
  prom: PromClientModule,
  registry: AnyRegistry,
  prefix: string,
): Collectors {
  const taken = metricNames(prefix).find((name) => registry.getSingleMetric(name) !== undefined);
  if (taken !== undefined) {
    throw new OptionsError(
      'ERR_LB_BAD_METRICS',
      'metrics.prefix',
      `metrics.registry already has a metric named ${taken} that this balancer did not register; ` +
        `give this balancer its own metrics.prefix (got ${JSON.stringify(prefix)})`,
    );
  }
  const registers = [registry];
  const sources = new Set<() => LoadBalancerStats>();
  const snapshots = (): LoadBalancerStats[] => [...sources].map((stats) => stats());

  new prom.Gauge({
    name: `${prefix}upstream_requests_in_flight`,
    help: 'Requests (and upgraded sockets) in flight to the upstream now.',
    labelNames: ['upstream'],
    registers,
    collect(this: PromClient.Gauge<'upstream'>) {
      this.reset();
      const sums = new Map<string, number>();
      for (const snapshot of snapshots()) {
        for (const u of snapshot.upstreams) {
          sums.set(u.id, (sums.get(u.id) ?? 0) + u.activeConnections);
        }
      }
      for (const [upstream, n] of sums) this.set({ upstream }, n);
    },
  });
  new prom.Gauge({
    name: `${prefix}upstream_health`,
    help: 'Probed health of the upstream: 1 for its current state, 0 for the others.',
    labelNames: ['upstream', 'state'],
    registers,
    collect(this: PromClient.Gauge<'upstream' | 'state'>) {
      this.reset();
      const states = new Map<string, Set<HealthState>>();
      for (const snapshot of snapshots()) {
        for (const u of snapshot.upstreams) {
          const set = states.get(u.id) ?? new Set<HealthState>();
          set.add(u.health);
          states.set(u.id, set);
        }
      }
      for (const [upstream, current] of states) {
        for (const state of HEALTH_STATES)
          this.set({ upstream, state }, current.has(state) ? 1 : 0);
      }
    },
  });
  new prom.Gauge({
    name: `${prefix}upstream_ejected`,
    help: 'Whether passive health has taken the upstream out right now (1) or not (0).',
    labelNames: ['upstream'],
    registers,
    collect(this: PromClient.Gauge<'upstream'>) {
      this.reset();
      const ejected = new Map<string, number>();
      for (const snapshot of snapshots()) {
        for (const u of snapshot.upstreams) {
          ejected.set(u.id, Math.max(ejected.get(u.id) ?? 0, u.ejected ? 1 : 0));
        }
      }
      for (const [upstream, value] of ejected) this.set({ upstream }, value);
    },
  });

  const answered = new prom.Counter({
    name: `${prefix}balancer_responses_total`,
    help: 'Requests the balancer answered itself: 502 no upstream answered, 503 none routable, 504 timeout.',
    labelNames: ['status'],
    registers,
  });
  for (const status of BALANCER_STATUSES) answered.inc({ status }, 0);

  return {
    requests: new prom.Counter({
      name: `${prefix}upstream_requests_total`,
      help: 'Attempts sent to the upstream (retries included) by outcome: 1xx-5xx, error (connect failure, timeout, reset) or aborted (by the client before the response).',
      labelNames: ['upstream', 'status_class'],
      registers,
    }),
    headerTime: new prom.Histogram({
      name: `${prefix}upstream_header_time_seconds`,
      help: "Time from sending a request to the upstream's response headers, in seconds.",
      labelNames: ['upstream'],
      buckets: [...HEADER_TIME_BUCKETS],
      registers,
    }),
    retries: new prom.Counter({
      name: `${prefix}upstream_retries_total`,
      help: 'Attempts on the upstream that failed and were retried on another one.',
      labelNames: ['upstream'],
      registers,
    }),
    ejections: new prom.Counter({
      name: `${prefix}upstream_ejections_total`,
      help: 'Times passive health ejected the upstream.',
      labelNames: ['upstream'],
      registers,
    }),
    answered,
    sources,
  };
}

function collectorsFor(prom: PromClientModule, registry: AnyRegistry, prefix: string): Collectors {
  let byPrefix = sharedCollectors.get(registry);
  if (!byPrefix) {
    byPrefix = new Map();
    sharedCollectors.set(registry, byPrefix);
  }
  let collectors = byPrefix.get(prefix);
  if (!collectors) {
    collectors = createCollectors(prom, registry, prefix);
    byPrefix.set(prefix, collectors);
  }
  return collectors;
}

function exposition(registry: MetricsRegistry): NodeMiddleware {
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (next) return next();
      res.statusCode = 405;
      res.setHeader('allow', 'GET, HEAD');
      res.end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.statusCode = 200;
        res.setHeader('content-type', registry.contentType);
        res.setHeader('content-length', Buffer.byteLength(text));
        res.setHeader('cache-control', 'no-store');
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        if (next) return next(error);
        res.statusCode = 500;
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end('500 Internal Server Error\n');
      },
    );
  };
}

/**
 * Creates (or joins) the collectors for `balancer` and wires them to its observer hooks and
 * events. Called by the Balancer constructor when `metrics` is set.
 */
export function createPrometheusMetrics(
  balancer: Pick<Balancer, 'observe' | 'on' | 'stats'>,
  config: { readonly registry: unknown; readonly prefix: string },
): LoadBalancerMetrics {
  const prom = loadPromClient();
  let registry: AnyRegistry;
  if (config.registry === undefined) {
    registry = new prom.Registry();
  } else if (isRegistry(config.registry)) {
    registry = config.registry;
  } else {
    throw new OptionsError(
      'ERR_LB_BAD_METRICS',
      'metrics.registry',
      'metrics.registry must be a prom-client Registry (new Registry(), or prom-client’s register)',
    );
  }
  const c = collectorsFor(prom, registry, config.prefix);
  const stats = (): LoadBalancerStats => balancer.stats();
  c.sources.add(stats);

  balancer.observe({
    attemptEnded(upstream, outcome) {
      c.requests.inc({ upstream: upstream.id, status_class: statusClass(outcome) });
      if (outcome.kind === 'response') {
        c.headerTime.observe({ upstream: upstream.id }, outcome.latencyMs / 1000);
      }
    },
    answered(status) {
      c.answered.inc({ status: String(status) });
    },
    stop() {
      // A stopped balancer's gauges leave the registry; its counters stay (they only grow).
      c.sources.delete(stats);
    },
  });
  balancer.on('retry', ({ from }) => c.retries.inc({ upstream: from }));
  balancer.on('eject', ({ upstream }) => c.ejections.inc({ upstream }));

  const contentType = registry.contentType as string;
  return Object.freeze({
    registry,
    contentType,
    handler: () => exposition(registry),
  });
}
