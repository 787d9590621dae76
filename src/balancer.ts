// The request path, framework-free: choose an upstream (sticky pin, else the strategy), forward
// with retries on connect failures, account exactly once per attempt, answer 502/503/504 itself
// when it must. Health checking, passive ejection and discovery run beside this path and only
// change what pool.candidates() returns.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { systemClock, systemRandom, type Clock, type Random } from './clock';
import {
  LoadBalancerError,
  NoUpstreamError,
  UpstreamTimeoutError,
  UpstreamUnreachableError,
} from './errors';
import { BalancerEmitter, type BalancerEventName, type BalancerListener } from './events';
import {
  normalizeOptions,
  normalizeUpstream,
  type Config,
  type Options,
  type UpstreamConfig,
  type UpstreamInput,
} from './options';
import { Pool } from './pool';
import { bodySourceOf } from './proxy/body';
import { STATUS_TEXT, type FailureKind } from './proxy/error-status';
import {
  Forwarder,
  type AttemptListener,
  type BodySource,
  type ForwardHandle,
} from './proxy/forward';
import { appendSetCookie, forwardRequestHeaders } from './proxy/headers';
import { Sticky, type StickyPin } from './session/sticky';
import { createStrategy } from './strategies/registry';
import type { PickContext, RequestOutcome, Strategy } from './strategies/strategy';
import type { HealthState, Upstream, UpstreamView } from './upstream';
import { HealthChecker } from './health/health-checker';
import { OutlierDetector } from './health/outlier-detector';
import { StatsRecorder, type LoadBalancerStats } from './metrics/stats';
import { createPrometheusMetrics, type LoadBalancerMetrics } from './metrics/prometheus';
import {
  createStatusPage,
  type StatusPageMiddleware,
  type StatusPageOptions,
} from './metrics/status-page/status-page';
import { DiscoveryLoop } from './discovery/discovery-loop';

export type { LoadBalancerStats };

/**
 * Something that watches the request path from beside it (Prometheus metrics, the status page).
 * Called synchronously; an observer must be cheap and must not throw.
 */
export interface BalancerObserver {
  /** An attempt on `upstream` ended (exactly once per attempt, retries included). */
  attemptEnded?(upstream: UpstreamView, outcome: RequestOutcome): void;
  /** The balancer answered a client itself (502 / 503 / 504). */
  answered?(status: number): void;
  /** Background work stops (close(), the server's 'close', or the signal). */
  stop?(): void;
}

/** Seams for tests and benchmarks: time and randomness. Not part of the options object. */
export interface BalancerInternals {
  readonly clock?: Clock;
  readonly random?: Random;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

function ignoreError(): void {}

/** The upstream URL's base path + the request path. */
function upstreamPath(upstream: Upstream, path: string): string {
  return upstream.basePath === '' ? path : upstream.basePath + path;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

export class Balancer {
  readonly config: Config;
  /** Prometheus collectors when the `metrics` option is set. */
  readonly metrics: LoadBalancerMetrics | undefined;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly emitter = new BalancerEmitter();
  private readonly pool: Pool;
  private readonly strategy: Strategy;
  private readonly sticky: Sticky | undefined;
  private readonly forwarder: Forwarder;
  private readonly health: HealthChecker;
  private readonly outliers: OutlierDetector | undefined;
  private readonly recorder = new StatsRecorder();
  private readonly draining = new Set<Upstream>();
  private readonly observers: BalancerObserver[] = [];
  /** Keeps the pool in step with `upstreams: dns(…) | discover(…)`; undefined for a static list. */
  private readonly discovery: DiscoveryLoop | undefined;
  private attachedServers = new WeakSet<Server>();
  private closing: Promise<void> | undefined;
  private backgroundStopped = false;
  private stoppingBackground: Promise<void> | undefined;

  constructor(options: Options, internals: BalancerInternals = {}) {
    this.config = normalizeOptions(options);
    // First, so a missing prom-client or a bad registry throws before any probe starts.
    this.metrics = this.config.metrics
      ? createPrometheusMetrics(this, this.config.metrics)
      : undefined;
    this.clock = internals.clock ?? systemClock;
    this.random = internals.random ?? systemRandom;
    this.strategy = createStrategy(this.config.algorithm, this.random);
    this.sticky = this.config.sticky
      ? new Sticky(this.config.sticky, {
          onStoreError: (error) => this.emitter.emit('storeError', { error }),
        })
      : undefined;
    this.pool = new Pool((members) => {
      this.strategy.onMembersChanged?.(members);
      this.sticky?.onMembersChanged(members.map((m) => m.id));
    });
    this.forwarder = new Forwarder({
      timeout: this.config.timeout,
      connectTimeout: this.config.connectTimeout,
      maxSockets: this.config.maxSockets,
      now: () => this.clock.now(),
    });
    this.health = new HealthChecker({
      random: this.random,
      onTransition: (upstream, from, to, reason) => {
        this.pool.invalidate();
        this.emitter.emit('health', { upstream: upstream.id, from, to, reason });
      },
    });
    this.outliers = this.config.passiveHealth
      ? new OutlierDetector(
          this.config.passiveHealth,
          this.clock,
          () => this.pool.members(),
          (upstream, ms, reason) => {
            this.pool.invalidate();
            this.emitter.emit('eject', { upstream: upstream.id, ms, reason });
          },
        )
      : undefined;
    for (const upstream of this.config.upstreams) this.addConfigured(upstream);
    // Discovery: the pool starts empty (503 until the first answer, see ready()) and follows
    // the source; started before the signal check so an aborted signal stops it at once.
    const source = this.config.discovery;
    this.discovery = source
      ? new DiscoveryLoop({
          source,
          healthCheck: this.config.healthCheck,
          apply: (configs) => this.applyDiscovered(source.name, configs),
          onError: (error) => this.emitter.emit('discoveryError', { source: source.name, error }),
        })
      : undefined;
    this.discovery?.start();
    if (this.config.signal) {
      const signal = this.config.signal;
      if (signal.aborted) void this.close();
      else signal.addEventListener('abort', () => void this.close(), { once: true });
    }
  }

  // ---------------------------------------------------------------- the request path

  /** Serve one request: `http.createServer((req, res) => balancer.handle(req, res))`. */
  handle(req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): void {
    this.recorder.requestStarted();
    this.attachFrom(req);
    // 1. sticky: the upstream a valid cookie pins, if any (a store may answer asynchronously)
    if (this.sticky) {
      const pin = this.sticky.resolve(req);
      if (isPromise(pin)) {
        pin.then(
          (resolved) => this.route(req, res, resolved, parsedBody),
          () => this.route(req, res, undefined, parsedBody),
        );
        return;
      }
      this.route(req, res, pin, parsedBody);
      return;
    }
    this.route(req, res, undefined, parsedBody);
  }

  private route(
    req: IncomingMessage,
    res: ServerResponse,
    pin: StickyPin | undefined,
    parsedBody: unknown,
  ): void {
    if (res.destroyed || res.writableEnded) return; // the client left while a store answered
    // 2. choose: the pinned upstream while it is routable, else the strategy's pick
    const now = this.clock.now();
    let upstream: Upstream | undefined;
    const pinnedId = pin?.upstreamId;
    if (pinnedId !== undefined) {
      const pinned = this.pool.get(pinnedId);
      if (pinned?.isRoutable(now)) upstream = pinned;
    }
    upstream ??= this.pick(this.pool.candidates(now), req);
    if (!upstream) {
      this.answer(req, res, new NoUpstreamError());
      return;
    }
    const path = this.requestPath(req);
    if (path === undefined) {
      this.answer(req, res, new UpstreamUnreachableError('pathRewrite threw'));
      return;
    }
    const body = bodySourceOf(req, parsedBody);
    if (!body) {
      this.answer(
        req,
        res,
        new UpstreamUnreachableError(
          'the request body was consumed by a parser the balancer cannot re-serialise',
        ),
      );
      return;
    }
    // 3–8 happen in the exchange: forward, retry, account, commit the sticky cookie
    new Exchange(this, req, res, pin, body, path).start(upstream);
  }

  /** @internal the strategy's pick, mapped back to a pool member. */
  pick(candidates: readonly Upstream[], req: IncomingMessage): Upstream | undefined {
    if (candidates.length === 0) return undefined;
    const ctx: PickContext = {
      key: this.config.hashKey?.(req),
      clock: this.clock,
      random: this.random,
    };
    let picked: UpstreamView | undefined;
    try {
      picked = this.strategy.pick(candidates, ctx);
    } catch {
      picked = undefined; // a user strategy's bug answers 503, never 500
    }
    if (!picked) return undefined;
    // A Map lookup and a routability check, not a scan: a user strategy may return anything.
    const upstream = this.pool.get(picked.id);
    return upstream?.isRoutable(this.clock.now()) ? upstream : undefined;
  }

  /** @internal */
  retryTarget(req: IncomingMessage, tried: readonly Upstream[]): Upstream | undefined {
    const candidates = this.pool.candidates(this.clock.now()).filter((u) => !tried.includes(u));
    const next = this.pick(candidates, req);
    return next && !tried.includes(next) ? next : undefined;
  }

  /** @internal */
  isRoutableNow(upstream: Upstream): boolean {
    return this.pool.get(upstream.id) === upstream && upstream.isRoutable(this.clock.now());
  }

  /** @internal in-flight +1 and the strategy's hook. */
  begin(upstream: Upstream): void {
    upstream.begin();
    this.strategy.onRequestStart?.(upstream);
  }

  /** @internal exactly once per begin(): in-flight −1, counters, strategy and outlier feedback. */
  end(upstream: Upstream, outcome: RequestOutcome, latencyMs: number | undefined): void {
    const failed = outcome.kind !== 'response' && outcome.kind !== 'aborted';
    upstream.end(failed, latencyMs);
    this.strategy.onRequestEnd?.(upstream, outcome);
    if (this.outliers?.recordOutcome(upstream, outcome)) this.pool.invalidate();
    for (const observer of this.observers) observer.attemptEnded?.(upstream, outcome);
    if (upstream.draining && upstream.inFlight === 0) this.finishDraining(upstream);
  }

  /** @internal */
  emit = this.emitter.emit.bind(this.emitter);

  /**
   * @internal The Host sent with changeOrigin: the upstream's own host, except for upstreams a
   * discovery source found by address (dns()), which keep the name they were found under.
   */
  originHost(upstream: Upstream): string {
    const source = this.config.discovery;
    return source?.originHost !== undefined && upstream.source === source.name
      ? source.originHost
      : upstream.target.host;
  }

  /** @internal */
  get recorderForExchange(): StatsRecorder {
    return this.recorder;
  }

  /** @internal */
  get stickyForExchange(): Sticky | undefined {
    return this.sticky;
  }

  /** @internal */
  get forwarderForExchange(): Forwarder {
    return this.forwarder;
  }

  /** @internal the balancer's own answer: 502/503/504, or the user's onError. */
  answer(req: IncomingMessage, res: ServerResponse, error: LoadBalancerError): void {
    this.recorder.requestFailed();
    for (const observer of this.observers) observer.answered?.(error.status);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    if (this.config.onError) {
      try {
        this.config.onError(error, req, res);
        return;
      } catch {
        if (res.headersSent) {
          res.destroy();
          return;
        }
      }
    }
    const text = `${error.status} ${STATUS_TEXT[error.status] ?? 'Error'}\n`;
    res.statusCode = error.status;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(text));
    res.setHeader('cache-control', 'no-store');
    if (error.status === 503) res.setHeader('retry-after', '1');
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  // ---------------------------------------------------------------- upgrades

  upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.upgradeImpl(req, socket, head);
  };

  private upgradeImpl(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', ignoreError); // an ECONNRESET on a client socket must never crash
    this.recorder.requestStarted();
    this.attachFrom(req);
    const pin = this.sticky?.resolve(req);
    if (isPromise(pin)) {
      pin.then(
        (resolved) => this.routeUpgrade(req, socket, head, resolved),
        () => this.routeUpgrade(req, socket, head, undefined),
      );
    } else {
      this.routeUpgrade(req, socket, head, pin);
    }
  }

  private routeUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    pin: StickyPin | undefined,
  ): void {
    if (socket.destroyed) return;
    const path = this.requestPath(req);
    if (path === undefined) {
      this.answerSocket(socket, 502);
      return;
    }
    const now = this.clock.now();
    const pinned = pin?.upstreamId !== undefined ? this.pool.get(pin.upstreamId) : undefined;
    const upstream = pinned?.isRoutable(now) ? pinned : this.pick(this.pool.candidates(now), req);
    if (!upstream) {
      this.answerSocket(socket, 503);
      return;
    }
    this.begin(upstream);
    let latency: number | undefined;
    this.forwarder.upgrade({
      req,
      socket,
      head,
      upstream,
      path: upstreamPath(upstream, path),
      headers: forwardRequestHeaders(req, {
        cookie: this.sticky ? this.sticky.stripCookie(req.headers.cookie) : req.headers.cookie,
        host: this.config.changeOrigin ? this.originHost(upstream) : undefined,
        contentLength: undefined,
        upgrade: true,
      }),
      listener: {
        onHandshake: (proxyRes, latencyMs) => {
          latency = latencyMs;
          this.recorder.requestAnswered(latencyMs);
          if (this.sticky && pin) {
            const cookie = this.sticky.commit(req, pin, upstream.id);
            if (cookie !== undefined) appendSetCookie(proxyRes.headers, cookie);
          }
        },
        onFailure: (kind, error) => {
          this.end(upstream, { kind }, undefined);
          if (kind === 'aborted') return;
          this.emitter.emit('proxyError', { upstream: upstream.id, error });
          this.answerSocket(socket, kind === 'timeout' ? 504 : 502);
        },
        onClose: () => {
          this.end(upstream, { kind: 'response', status: 101, latencyMs: latency ?? 0 }, latency);
        },
      },
    });
  }

  private answerSocket(socket: Duplex, status: number): void {
    this.recorder.requestFailed();
    for (const observer of this.observers) observer.answered?.(status);
    const text = `${status} ${STATUS_TEXT[status] ?? 'Error'}\n`;
    if (!socket.destroyed && socket.writable) {
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\n` +
          `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
    }
  }

  /** The request path after pathRewrite; undefined when the user's rewrite threw. */
  private requestPath(req: IncomingMessage): string | undefined {
    let path = req.url ?? '/';
    const rewrite = this.config.pathRewrite;
    if (rewrite) {
      try {
        const rewritten = rewrite(path, req);
        if (typeof rewritten === 'string') path = rewritten;
      } catch {
        return undefined;
      }
    }
    return path.startsWith('/') ? path : `/${path}`;
  }

  // ---------------------------------------------------------------- pool and lifecycle

  addUpstream(input: UpstreamInput): UpstreamView {
    const config = normalizeUpstream(input, 'upstream', this.config.healthCheck);
    if (this.pool.has(config.id)) {
      throw new LoadBalancerError(
        'ERR_LB_DUPLICATE_UPSTREAM',
        500,
        `upstream ${JSON.stringify(config.id)} is already in the pool`,
      );
    }
    return this.addConfigured(config, 'api');
  }

  private addConfigured(
    config: UpstreamConfig,
    source?: string,
    health: HealthState = 'unknown',
  ): Upstream {
    const upstream = this.pool.add(config, source);
    upstream.health = health; // before the checker reads it: its counters start from it
    if (config.healthCheck && !this.backgroundStopped)
      this.health.add(upstream, config.healthCheck);
    return upstream;
  }

  /**
   * @internal Applies one discovery answer from `source`: adds the ids it names that are not in
   * the pool, drains the members it found before that it no longer names, keeps the rest as they
   * are (in-flight counts, latency history, sticky sessions and hash keys stay). A member whose
   * weight or URL changed is replaced: the old one drains, the new one takes its id (so its
   * cookies and hash keys) and, when only the weight changed, its health.
   */
  applyDiscovered(source: string, configs: readonly UpstreamConfig[]): void {
    const named = new Set(configs.map((c) => c.id));
    for (const member of this.pool.members()) {
      if (member.source === source && !named.has(member.id)) this.removeUpstream(member.id);
    }
    for (const config of configs) {
      const current = this.pool.get(config.id);
      if (!current) {
        this.addConfigured(config, source);
      } else if (
        current.source === source &&
        (current.weight !== config.weight || current.target.href !== config.url.href)
      ) {
        const health = current.target.href === config.url.href ? current.health : 'unknown';
        this.removeUpstream(config.id);
        this.addConfigured(config, source, health);
      }
    }
  }

  /** Takes an upstream out: no new requests, in-flight ones finish, its probes stop. */
  removeUpstream(id: string): boolean {
    const upstream = this.pool.remove(id);
    if (!upstream) return false;
    this.health.remove(id);
    this.outliers?.forget(id);
    if (upstream.inFlight === 0) this.finishDraining(upstream);
    else this.draining.add(upstream);
    return true;
  }

  private finishDraining(upstream: Upstream): void {
    this.draining.delete(upstream);
    if (!this.pool.has(upstream.id)) this.forwarder.release(upstream.id);
  }

  checkHealth(): Promise<void> {
    return this.health.checkNow();
  }

  stats(): LoadBalancerStats {
    return this.recorder.snapshot(this.pool.members(), this.clock.now());
  }

  /** Middleware serving the live status page and its JSON: `app.use('/status', …)`. */
  statusPage(options?: StatusPageOptions): StatusPageMiddleware {
    return createStatusPage(this, options);
  }

  /** Tie background work to a server: it stops when the server emits 'close'. */
  attach(server: Server): void {
    if (this.attachedServers.has(server)) return;
    this.attachedServers.add(server);
    server.once('close', () => void this.stopBackground());
  }

  private attachFrom(req: IncomingMessage): void {
    const server = (req.socket as { server?: unknown } | undefined)?.server;
    if (
      server &&
      typeof (server as Server).once === 'function' &&
      !this.attachedServers.has(server as Server)
    ) {
      this.attach(server as Server);
    }
  }

  /** Adds an observer of the request path (metrics, status page); stopped with the background. */
  observe(observer: BalancerObserver): void {
    this.observers.push(observer);
    if (this.backgroundStopped) observer.stop?.();
  }

  /** Stops probes, discovery and observers' timers; idempotent, resolves when probes ended. */
  private stopBackground(): Promise<void> {
    this.stoppingBackground ??= (() => {
      this.backgroundStopped = true;
      for (const observer of this.observers) observer.stop?.();
      return Promise.all([this.health.close(), this.discovery?.close()]).then(() => undefined);
    })();
    return this.stoppingBackground;
  }

  /**
   * Resolves once the first discovery refresh has ended, applied or failed (failures go to
   * 'discoveryError'), or at once for a static list. Never rejects. Until then the pool is empty
   * and requests get 503.
   */
  ready(): Promise<void> {
    return this.discovery?.ready() ?? Promise.resolve();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.stopBackground();
      this.sticky?.close();
      this.forwarder.close();
    })();
    return this.closing;
  }

  on<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): this {
    this.emitter.on(event, listener);
    return this;
  }

  once<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): this {
    this.emitter.once(event, listener);
    return this;
  }

  off<E extends BalancerEventName>(event: E, listener: BalancerListener<E>): this {
    this.emitter.off(event, listener);
    return this;
  }
}

/** One client request through the balancer: its attempts, retries and its single answer. */
class Exchange implements AttemptListener {
  private readonly tried: Upstream[] = [];
  private upstream!: Upstream;
  private handle: ForwardHandle | undefined;
  private retriesLeft: number;
  private reusedSocketRetried = false;
  private latencyMs: number | undefined;
  private status = 0;

  constructor(
    private readonly balancer: Balancer,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly pin: StickyPin | undefined,
    private readonly body: BodySource,
    private readonly path: string,
  ) {
    this.retriesLeft = balancer.config.retries;
    res.once('close', () => {
      if (!res.writableFinished) this.handle?.abort();
    });
  }

  start(upstream: Upstream): void {
    this.upstream = upstream;
    this.tried.push(upstream);
    this.latencyMs = undefined;
    // 3. in-flight +1
    this.balancer.begin(upstream);
    // 4. forward
    const config = this.balancer.config;
    const sticky = this.balancer.stickyForExchange;
    const path = upstreamPath(upstream, this.path);
    const headers = forwardRequestHeaders(this.req, {
      cookie: sticky ? sticky.stripCookie(this.req.headers.cookie) : this.req.headers.cookie,
      host: config.changeOrigin ? this.balancer.originHost(upstream) : undefined,
      contentLength: this.body.kind === 'buffer' ? this.body.bytes.length : undefined,
      upgrade: false,
    });
    this.handle = this.balancer.forwarderForExchange.forward({
      req: this.req,
      res: this.res,
      upstream,
      headers,
      path,
      body: this.body,
      listener: this,
    });
  }

  onResponse(proxyRes: IncomingMessage, latencyMs: number): void {
    this.latencyMs = latencyMs;
    this.status = proxyRes.statusCode ?? 0;
    this.balancer.recorderForExchange.requestAnswered(latencyMs);
    // 8. the sticky cookie, appended to the upstream's own Set-Cookie headers
    const sticky = this.balancer.stickyForExchange;
    if (sticky && this.pin) {
      const cookie = sticky.commit(this.req, this.pin, this.upstream.id);
      if (cookie !== undefined) appendSetCookie(proxyRes.headers, cookie);
    }
  }

  onEnd(kind: 'complete' | 'reset' | 'aborted'): void {
    // 6–7. account exactly once; the upstream answered, so latency counts even if the client left
    const outcome: RequestOutcome =
      kind === 'reset'
        ? { kind: 'reset' }
        : { kind: 'response', status: this.status, latencyMs: this.latencyMs ?? 0 };
    this.balancer.end(this.upstream, outcome, this.latencyMs);
  }

  onFailure(kind: FailureKind, error: Error, bodySent: boolean, reusedSocket: boolean): void {
    const failed = this.upstream;
    this.balancer.end(failed, { kind }, undefined);
    if (kind === 'aborted') return; // the client left: nobody to answer
    this.balancer.emit('proxyError', { upstream: failed.id, error });
    if (kind === 'timeout') {
      this.balancer.answer(
        this.req,
        this.res,
        new UpstreamTimeoutError(undefined, { cause: error }),
      );
      return;
    }
    // 5. retry a failure that happened before anything was sent that cannot be sent again
    const retryable =
      !bodySent &&
      (kind === 'connect-failed' || (kind === 'reset' && IDEMPOTENT.has(this.req.method ?? '')));
    if (retryable && this.retriesLeft > 0 && !this.res.destroyed) {
      let next: Upstream | undefined;
      if (
        kind === 'reset' &&
        reusedSocket &&
        !this.reusedSocketRetried &&
        this.balancer.isRoutableNow(failed)
      ) {
        // A kept-alive socket the upstream had just closed: the same upstream is fine.
        this.reusedSocketRetried = true;
        next = failed;
      } else {
        next = this.balancer.retryTarget(this.req, this.tried);
      }
      if (next) {
        this.retriesLeft--;
        this.balancer.emit('retry', { from: failed.id, to: next.id, error });
        this.start(next);
        return;
      }
    }
    this.balancer.answer(
      this.req,
      this.res,
      new UpstreamUnreachableError(undefined, { cause: error }),
    );
  }
}

export function createBalancer(options: Options, internals?: BalancerInternals): Balancer {
  return new Balancer(options, internals);
}
