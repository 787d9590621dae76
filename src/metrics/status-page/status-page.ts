// Owns `statusPage()`: a node-style middleware serving the live HTML page (any path) and its data
// (`…/status.json`), and the per-balancer history observer behind the charts (one per resolution,
// registered on first use). Must not: show upstream URLs unless `showUrls` says so, serve anything
// but GET/HEAD, or keep a timer (the history rolls over lazily).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Balancer } from '../../balancer';
import { OptionsError } from '../../errors';
import type { HealthState } from '../../upstream';
import type { NodeMiddleware } from '../prometheus';
import { StatusHistory } from './history';
import { CONTENT_SECURITY_POLICY, renderPage } from './page';

export interface StatusPageOptions {
  /** The page's heading, e.g. the pool's name (default `'Load balancer'`). */
  title?: string;
  /**
   * Show each upstream's URL under its id, on the page and in status.json (default `false`:
   * ids only, since a status page may end up exposed by mistake).
   */
  showUrls?: boolean;
  /** How far back the charts go, in ms (default 300 000: 5 minutes). */
  historyMs?: number;
  /** The charts' resolution, in ms (default 2000). */
  bucketMs?: number;
}

/** A node-style middleware: `app.use('/status', lb.statusPage())`. */
export type StatusPageMiddleware = NodeMiddleware;

/** One upstream in status.json. */
export interface StatusPageUpstream {
  id: string;
  /** Only with `showUrls: true`. */
  url?: string;
  weight: number;
  health: HealthState;
  ejected: boolean;
  inFlight: number;
  totalRequests: number;
  failedRequests: number;
  averageResponseTimeMs: number;
  /** Its part of the pool's attempts over the last minute, 0 to 1. */
  share: number;
  /** Per bucket, oldest first (the current, partial bucket excluded). */
  requests: number[];
  errors: number[];
  latencyMs: Array<number | null>;
}

/** The body of status.json. */
export interface StatusSnapshot {
  /** Epoch ms. */
  generatedAt: number;
  /** Epoch ms at which the first bucket starts. */
  start: number;
  bucketMs: number;
  historyMs: number;
  totals: {
    totalRequests: number;
    successfulRequests: number;
    failedRequests: number;
    averageResponseTimeMs: number;
  };
  /** Requests the balancer answered itself (502 / 503 / 504) per bucket. */
  answered: number[];
  upstreams: StatusPageUpstream[];
}

const OPTION_KEYS = ['title', 'showUrls', 'historyMs', 'bucketMs'];
const SHARE_WINDOW_MS = 60_000;

/** History observers per balancer, one per (bucketMs, historyMs): created on first use. */
const histories = new WeakMap<object, Map<string, StatusHistory>>();

function bad(option: string, expected: string, got: unknown): never {
  let shown: string;
  try {
    shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = String(got);
  }
  throw new OptionsError(
    'ERR_LB_BAD_STATUS_PAGE',
    `statusPage.${option}`,
    `statusPage({ ${option} }) must be ${expected}, got ${shown}`,
  );
}

interface PageConfig {
  title: string;
  showUrls: boolean;
  historyMs: number;
  bucketMs: number;
}

function parseOptions(options: StatusPageOptions | undefined): PageConfig {
  const input = (options ?? {}) as Record<string, unknown>;
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    bad('options', 'an object', options);
  for (const key of Object.keys(input)) {
    if (!OPTION_KEYS.includes(key)) bad(key, `one of ${OPTION_KEYS.join(', ')}`, key);
  }
  const title = input.title ?? 'Load balancer';
  if (typeof title !== 'string' || title.length > 200)
    bad('title', 'a string of at most 200 characters', title);
  const showUrls = input.showUrls ?? false;
  if (typeof showUrls !== 'boolean') bad('showUrls', 'true or false', showUrls);
  const bucketMs = input.bucketMs ?? 2000;
  if (typeof bucketMs !== 'number' || !Number.isInteger(bucketMs) || bucketMs < 100)
    bad('bucketMs', 'an integer of at least 100 (ms)', bucketMs);
  const historyMs = input.historyMs ?? 300_000;
  if (
    typeof historyMs !== 'number' ||
    !Number.isInteger(historyMs) ||
    historyMs < 2 * bucketMs ||
    historyMs / bucketMs > 10_000
  ) {
    bad('historyMs', `an integer from 2 to 10 000 times bucketMs (${bucketMs} ms)`, historyMs);
  }
  return { title, showUrls, historyMs, bucketMs };
}

function historyFor(balancer: Pick<Balancer, 'observe'>, config: PageConfig): StatusHistory {
  let byResolution = histories.get(balancer);
  if (!byResolution) {
    byResolution = new Map();
    histories.set(balancer, byResolution);
  }
  const key = `${config.bucketMs}/${config.historyMs}`;
  let history = byResolution.get(key);
  if (!history) {
    history = new StatusHistory(config.bucketMs, config.historyMs);
    byResolution.set(key, history);
    balancer.observe(history);
  }
  return history;
}

/** What status.json says now. */
export function statusSnapshot(
  balancer: Pick<Balancer, 'stats'>,
  history: StatusHistory,
  showUrls: boolean,
): StatusSnapshot {
  const stats = balancer.stats();
  const window = history.read();
  const recent = history.recentRequests(SHARE_WINDOW_MS);
  let recentTotal = 0;
  for (const u of stats.upstreams) recentTotal += recent.get(u.id) ?? 0;
  const length = window.answered.length;
  const zeros = (): number[] => new Array<number>(length).fill(0);
  return {
    generatedAt: Date.now(),
    start: window.start,
    bucketMs: history.bucketMs,
    historyMs: history.historyMs,
    totals: {
      totalRequests: stats.totalRequests,
      successfulRequests: stats.successfulRequests,
      failedRequests: stats.failedRequests,
      averageResponseTimeMs: stats.averageResponseTimeMs,
    },
    answered: window.answered,
    upstreams: stats.upstreams.map((u) => {
      const series = window.upstreams.get(u.id);
      return {
        id: u.id,
        ...(showUrls ? { url: u.url } : {}),
        weight: u.weight,
        health: u.health,
        ejected: u.ejected,
        inFlight: u.activeConnections,
        totalRequests: u.totalRequests,
        failedRequests: u.failedRequests,
        averageResponseTimeMs: u.averageResponseTimeMs,
        share: recentTotal === 0 ? 0 : (recent.get(u.id) ?? 0) / recentTotal,
        requests: series?.requests ?? zeros(),
        errors: series?.errors ?? zeros(),
        latencyMs: series?.latencyMs ?? new Array<null>(length).fill(null),
      };
    }),
  };
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.statusCode = 200;
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The status page of `balancer`: HTML at any path under its mount point, its data at
 * `<mount>/status.json`. The page finds status.json relative to its own URL.
 */
export function createStatusPage(
  balancer: Pick<Balancer, 'observe' | 'stats'>,
  options?: StatusPageOptions,
): StatusPageMiddleware {
  const config = parseOptions(options);
  const history = historyFor(balancer, config);
  const html = renderPage(config.title, config.historyMs);
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (next) return next();
      res.statusCode = 405;
      res.setHeader('allow', 'GET, HEAD');
      res.end();
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path === 'status.json' || path.endsWith('/status.json')) {
      const body = JSON.stringify(statusSnapshot(balancer, history, config.showUrls));
      send(req, res, 'application/json; charset=utf-8', body);
      return;
    }
    send(req, res, 'text/html; charset=utf-8', html, {
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-frame-options': 'DENY',
    });
  };
}
