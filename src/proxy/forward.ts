// The only user of http-proxy. Owns one attempt of one request against one upstream: the
// keep-alive agents, the connect and response-header timeouts, the body source (so a connect
// failure can be retried without losing the client's body), aborting the upstream call when the
// client goes away, and an error listener on every socket. It decides nothing about which
// upstream or whether to retry: it reports to an AttemptListener.
//
// http-proxy 1.18.1 has had no release since 2020; what it lacks is done here:
// - its passes before `stream` are dropped: `deleteLength` strips Transfer-Encoding from DELETE
//   bodies and `XHeaders` we do ourselves (proxy/headers.ts);
// - the ClientRequest is captured synchronously from the agent, so a timeout or a client abort
//   can destroy it even before it has a socket (http-proxy only exposes it on 'socket');
// - timeouts are our own timers: its `proxyTimeout` only covers socket inactivity;
// - a client that disconnects destroys the upstream request (its socket-leak bug);
// - an upstream response cut mid-body destroys the client response instead of leaving it hanging.

import http, {
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Upstream } from '../upstream';
import { CONNECT_TIMEOUT, HEADER_TIMEOUT, classifyFailure, type FailureKind } from './error-status';
import { stripResponseHopByHop } from './headers';

/** Where the request body comes from for one attempt. */
export type BodySource =
  /** No body: the (empty) request stream is piped as is. */
  | { readonly kind: 'none' }
  /** An unread body: piped only once the upstream socket is connected, so a refused connect loses nothing. */
  | { readonly kind: 'stream' }
  /** A body already read (by a body parser): re-sent from memory, so every attempt can send it. */
  | { readonly kind: 'buffer'; readonly bytes: Buffer };

export interface AttemptListener {
  /** Response headers arrived; `proxyRes.headers` may still be changed (they are copied next). */
  onResponse(proxyRes: IncomingMessage, latencyMs: number): void;
  /** The attempt failed before any response header: nothing was written to the client. */
  onFailure(kind: FailureKind, error: Error, bodySent: boolean, reusedSocket: boolean): void;
  /** After onResponse: the response body completed, was cut by the upstream, or the client left. */
  onEnd(kind: 'complete' | 'reset' | 'aborted'): void;
}

export interface ForwardSettings {
  readonly timeout: number;
  readonly connectTimeout: number;
  readonly maxSockets: number;
  readonly now: () => number;
}

const kAttempt = Symbol('loadbalance.attempt');

type CapturedRequest = ClientRequest & { [kAttempt]?: Attempt };

/** Set only while proxy.web() runs, which creates its ClientRequest synchronously. */
let captureRequest: ((request: ClientRequest) => void) | undefined;

type AddRequest = (request: ClientRequest, options: unknown) => void;

function capturing<A extends http.Agent>(agent: A): A {
  const target = agent as unknown as { addRequest: AddRequest };
  const original: AddRequest = target.addRequest.bind(agent);
  target.addRequest = (request, options) => {
    captureRequest?.(request);
    original(request, options);
  };
  return agent;
}

function ignoreError(): void {}

const kGuarded = Symbol('loadbalance.guarded');

/** One error listener per socket, however often a kept-alive socket is reused. */
function guardSocket(socket: Socket & { [kGuarded]?: true }): void {
  if (socket[kGuarded]) return;
  socket[kGuarded] = true;
  socket.on('error', ignoreError); // the request reports it; a socket error must never crash
}

class Attempt {
  request: CapturedRequest | undefined;
  response: IncomingMessage | undefined;
  private headerTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  bodySent = false;
  finished = false;
  readonly startedAt: number;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly body: BodySource,
    readonly bodyStream: PassThrough | undefined,
    readonly listener: AttemptListener,
    readonly settings: ForwardSettings,
  ) {
    this.startedAt = settings.now();
  }

  attach(request: ClientRequest): void {
    this.request = request;
    (request as CapturedRequest)[kAttempt] = this;
    this.headerTimer = setTimeout(
      () => this.fail(HEADER_TIMEOUT, 'no response headers in time'),
      this.settings.timeout,
    );
    request.once('socket', (socket: Socket) => {
      guardSocket(socket);
      if (socket.connecting) {
        this.connectTimer = setTimeout(
          () => this.fail(CONNECT_TIMEOUT, 'connect timed out'),
          this.settings.connectTimeout,
        );
        socket.once('connect', () => this.connected());
      } else {
        this.connected();
      }
    });
  }

  private connected(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.finished) return;
    if (this.bodyStream) {
      this.bodySent = true;
      this.req.pipe(this.bodyStream);
    } else if (this.body.kind !== 'none') {
      this.bodySent = true;
    }
  }

  private fail(code: string, message: string): void {
    const error = Object.assign(new Error(message), { code });
    this.request?.destroy(error);
  }

  clearTimers(): void {
    if (this.headerTimer) clearTimeout(this.headerTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.headerTimer = this.connectTimer = undefined;
  }

  /** http-proxy's error callback: an error on the upstream request (or the client request). */
  onError(error: Error): void {
    if (this.finished) return;
    if (this.response) {
      this.end('reset');
      return;
    }
    this.finished = true;
    this.clearTimers();
    if (this.bodyStream) this.req.unpipe(this.bodyStream);
    this.request?.destroy();
    const reused = this.request?.reusedSocket === true;
    this.listener.onFailure(
      classifyFailure(error),
      error,
      this.bodySent && this.body.kind === 'stream',
      reused,
    );
  }

  onResponse(proxyRes: IncomingMessage): void {
    if (this.finished) {
      proxyRes.destroy();
      return;
    }
    this.response = proxyRes;
    this.clearTimers();
    proxyRes.on('error', ignoreError);
    proxyRes.once('end', () => this.end('complete'));
    proxyRes.once('close', () => {
      if (!proxyRes.complete) this.end('reset');
    });
    stripResponseHopByHop(proxyRes.headers);
    this.listener.onResponse(proxyRes, this.settings.now() - this.startedAt);
  }

  /** The client went away (its response closed before it finished). */
  abort(): void {
    if (this.finished) return;
    if (this.response) {
      this.end('aborted');
      return;
    }
    this.finished = true;
    this.clearTimers();
    if (this.bodyStream) this.req.unpipe(this.bodyStream);
    this.request?.destroy();
    this.listener.onFailure(
      'aborted',
      new Error('client closed the request'),
      this.bodySent,
      false,
    );
  }

  private end(kind: 'complete' | 'reset' | 'aborted'): void {
    if (this.finished) return;
    this.finished = true;
    if (kind !== 'complete') {
      this.request?.destroy();
      this.response?.destroy();
      // The client already has headers: a cut-off response is the only honest answer.
      if (kind === 'reset') this.res.destroy();
    }
    this.listener.onEnd(kind);
  }
}

interface ProxyTarget {
  readonly protocol: string;
  readonly host: string;
  readonly hostname: string;
  readonly port: string;
}

const targets = new WeakMap<Upstream, ProxyTarget>();

function targetOf(upstream: Upstream): ProxyTarget {
  let target = targets.get(upstream);
  if (!target) {
    const url = upstream.target;
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    target = {
      protocol: url.protocol,
      host: hostname,
      hostname,
      port: url.port || (url.protocol === 'https:' ? '443' : '80'),
    };
    targets.set(upstream, target);
  }
  return target;
}

export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly upstream: Upstream;
  readonly headers: OutgoingHttpHeaders;
  /** The full path sent upstream: the upstream's base path + the request's (rewritten) path. */
  readonly path: string;
  readonly body: BodySource;
  readonly listener: AttemptListener;
}

/** A handle on one attempt in flight. */
export interface ForwardHandle {
  /** The client went away: abort the upstream call and report it. */
  abort(): void;
}

/** What an upgrade attempt reports: the handshake's outcome, then the tunnel's end. */
export interface UpgradeListener {
  /** The upstream answered the handshake (101, or a refusal relayed to the client). */
  onHandshake(proxyRes: IncomingMessage, latencyMs: number): void;
  /** Failed before the upstream answered: nothing was relayed yet. */
  onFailure(kind: FailureKind, error: Error): void;
  /** After onHandshake: the tunnel (or the relayed refusal) is over. */
  onClose(): void;
}

export interface UpgradeRequest {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly upstream: Upstream;
  readonly headers: OutgoingHttpHeaders;
  readonly path: string;
  readonly listener: UpgradeListener;
}

export class Forwarder {
  private readonly proxy: httpProxy;
  private readonly agents = new Map<string, http.Agent>();
  private closed = false;

  constructor(private readonly settings: ForwardSettings) {
    this.proxy = httpProxy.createProxyServer({ xfwd: false, ws: true, prependPath: true });
    // Only `stream` remains: see the header comment.
    const server = this.proxy as unknown as { webPasses: Array<{ name: string }> };
    server.webPasses = server.webPasses.filter((pass) => pass.name === 'stream');
    this.proxy.on('proxyRes', (proxyRes) => {
      const request = (proxyRes as IncomingMessage & { req?: CapturedRequest }).req;
      const attempt = request?.[kAttempt];
      if (attempt) attempt.onResponse(proxyRes);
    });
    // A listener keeps http-proxy from throwing its own errors at the process.
    this.proxy.on('error', ignoreError);
    this.proxy.on('econnreset', ignoreError);
  }

  agentFor(upstream: Upstream): http.Agent {
    let agent = this.agents.get(upstream.id);
    if (!agent) {
      const options: http.AgentOptions = {
        keepAlive: true,
        maxSockets: this.settings.maxSockets,
        maxFreeSockets: Math.min(this.settings.maxSockets, 64),
        scheduling: 'lifo',
      };
      agent = capturing(
        upstream.target.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options),
      );
      this.agents.set(upstream.id, agent);
    }
    return agent;
  }

  forward(request: ForwardRequest): ForwardHandle {
    const { req, res, upstream, body, listener } = request;
    const bodyStream = body.kind === 'stream' ? new PassThrough() : undefined;
    const attempt = new Attempt(req, res, body, bodyStream, listener, this.settings);
    let buffer: Readable | undefined = bodyStream;
    if (body.kind === 'buffer') {
      const replay = new PassThrough();
      replay.end(body.bytes);
      buffer = replay;
    }
    const originalHeaders = req.headers;
    const originalUrl = req.url;
    let captured: ClientRequest | undefined;
    captureRequest = (clientRequest) => {
      captured = clientRequest;
    };
    try {
      // http-proxy copies req.headers and req.url synchronously inside web(): hand it ours.
      req.headers = request.headers as IncomingMessage['headers'];
      req.url = request.path;
      this.proxy.web(
        req,
        res,
        {
          target: targetOf(upstream) as unknown as string,
          agent: this.agentFor(upstream),
          buffer,
          selfHandleResponse: false,
        },
        (error: Error) => attempt.onError(error),
      );
    } catch (error) {
      captureRequest = undefined;
      req.headers = originalHeaders;
      req.url = originalUrl;
      queueMicrotask(() => attempt.onError(error as Error));
      return attempt;
    }
    captureRequest = undefined;
    req.headers = originalHeaders;
    req.url = originalUrl;
    if (captured) {
      // http-proxy's urlJoin collapses "//" in paths; the request line is rendered on first
      // write, after this, so the client's path goes out exactly as it came.
      (captured as ClientRequest & { path: string }).path = request.path;
      attempt.attach(captured);
    } else queueMicrotask(() => attempt.onError(new Error('the proxy engine made no request')));
    return attempt;
  }

  /**
   * Proxies an HTTP upgrade (WebSocket). No retry: http-proxy ends the client socket on the
   * first error. The client socket gets an error listener at once (an ECONNRESET there must
   * never crash), and the tunnel counts as in flight until either side closes.
   */
  upgrade(request: UpgradeRequest): void {
    const { req, socket, head, upstream, listener } = request;
    const startedAt = this.settings.now();
    let state: 'waiting' | 'open' | 'done' = 'waiting';
    let proxyRequest: ClientRequest | undefined;
    let tunnel: Duplex | undefined;
    const close = (): void => {
      if (state !== 'open') return;
      state = 'done';
      tunnel?.destroy();
      socket.destroy();
      listener.onClose();
    };
    const fail = (error: Error): void => {
      if (state === 'open') {
        close();
        return;
      }
      if (state === 'done') return;
      state = 'done';
      clearTimeout(timer);
      proxyRequest?.destroy();
      listener.onFailure(classifyFailure(error), error);
    };
    const timer = setTimeout(
      () => fail(Object.assign(new Error('no handshake answer in time'), { code: HEADER_TIMEOUT })),
      this.settings.timeout,
    );
    socket.on('error', ignoreError);
    socket.once('close', () => {
      if (state === 'waiting') {
        state = 'done';
        clearTimeout(timer);
        proxyRequest?.destroy();
        listener.onFailure('aborted', new Error('client closed the connection'));
      } else {
        close();
      }
    });
    const onProxyRequest = (clientRequest: ClientRequest): void => {
      proxyRequest = clientRequest;
      clientRequest.path = request.path;
      // Registered before http-proxy's own listeners, so headers can still be changed here.
      clientRequest.once('upgrade', (proxyRes: IncomingMessage, proxySocket: Duplex) => {
        clearTimeout(timer);
        if (state !== 'waiting') return;
        state = 'open';
        tunnel = proxySocket;
        proxySocket.on('error', ignoreError);
        proxySocket.once('close', close);
        listener.onHandshake(proxyRes, this.settings.now() - startedAt);
      });
      clientRequest.once('response', (proxyRes: IncomingMessage) => {
        clearTimeout(timer);
        if (state !== 'waiting') return;
        state = 'open';
        proxyRes.on('error', ignoreError);
        proxyRes.once('close', close);
        listener.onHandshake(proxyRes, this.settings.now() - startedAt);
      });
    };
    this.proxy.once('proxyReqWs', onProxyRequest);
    const originalHeaders = req.headers;
    const originalUrl = req.url;
    try {
      req.headers = request.headers as IncomingMessage['headers'];
      req.url = request.path;
      this.proxy.ws(
        req,
        socket,
        head,
        { target: targetOf(upstream) as unknown as string, agent: false },
        (error: Error) => fail(error),
      );
    } catch (error) {
      queueMicrotask(() => fail(error as Error));
    } finally {
      this.proxy.off('proxyReqWs', onProxyRequest);
      req.headers = originalHeaders;
      req.url = originalUrl;
    }
  }

  /** Destroys the keep-alive agent of an upstream that left the pool (after its requests drained). */
  release(id: string): void {
    this.agents.get(id)?.destroy();
    this.agents.delete(id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    this.proxy.close();
  }
}
