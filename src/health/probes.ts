// Owns one active health probe: an HTTP(S) request or a TCP connect to one upstream, answered as
// a ProbeResult. It must not decide health (thresholds.ts does), schedule anything
// (health-checker.ts does) or share sockets with the proxy: every probe opens its own connection
// (`agent: false`) so it measures the upstream, not a pooled socket.
//
// Contract: a probe never rejects, is bounded by `config.timeout` and by `signal`, and resolves
// only once its socket is closed and its timer cleared — nothing it made outlives it.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthCheckConfig } from '../options';

export interface ProbeResult {
  readonly passed: boolean;
  /** 'http 200', 'http 503', 'connected', 'timeout', 'aborted', or an error code ('ECONNREFUSED'). */
  readonly reason: string;
}

export interface ProbeOptions {
  /**
   * Unref the probe's socket and timer so an in-flight probe never holds the process open.
   * The health checker sets it for every probe and keeps the process alive itself while a
   * caller awaits checkNow(). Default false: a plain `await httpProbe(...)` behaves normally.
   */
  readonly unref?: boolean;
}

export type Probe = (
  target: URL,
  config: HealthCheckConfig,
  signal: AbortSignal,
  options?: ProbeOptions,
) => Promise<ProbeResult>;

/** Kept by hand: importing package.json would pull it outside `rootDir` of the build. */
export const PROBE_VERSION = '0.1.0';
export const PROBE_USER_AGENT = `loadbalance-middleware-health/${PROBE_VERSION}`;

const TIMEOUT: ProbeResult = Object.freeze({ passed: false, reason: 'timeout' });
const ABORTED: ProbeResult = Object.freeze({ passed: false, reason: 'aborted' });
const CONNECTED: ProbeResult = Object.freeze({ passed: true, reason: 'connected' });

/** Probes with `config.type`. */
export const probe: Probe = (target, config, signal, options) =>
  config.type === 'http'
    ? httpProbe(target, config, signal, options)
    : tcpProbe(target, config, signal, options);

/** The upstream URL's base path, then the probe path: `http://h/api` + `/health` → `/api/health`. */
export function probePath(target: URL, path: string): string {
  const base = target.pathname.replace(/\/+$/, '');
  return `${base}${path.startsWith('/') ? path : `/${path}`}`;
}

export function httpProbe(
  target: URL,
  config: HealthCheckConfig,
  signal: AbortSignal,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  return settleOnClose(config.timeout, signal, options, (decide) => {
    const secure = target.protocol === 'https:';
    const headers: Record<string, string> = { ...config.headers };
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'user-agent')) {
      headers['User-Agent'] = PROBE_USER_AGENT;
    }
    const request = (secure ? https : http).request({
      protocol: target.protocol,
      hostname: bareHost(target),
      port: portOf(target),
      method: config.method,
      path: probePath(target, config.path),
      headers,
      // A fresh connection per probe: a pooled socket would hide a dead listener.
      agent: false,
    });
    request.on('socket', (socket) => {
      // The request re-emits socket errors, but a late one (after the response) must not go
      // unhandled either.
      socket.on('error', noop);
      if (options.unref) socket.unref();
    });
    request.on('error', (err) => decide({ passed: false, reason: reasonOf(err) }));
    request.on('response', (response) => {
      response.on('error', noop);
      decide({
        passed: config.expectStatus(response.statusCode ?? 0),
        reason: `http ${response.statusCode ?? 0}`,
      });
      // The status decided it; drain the body so the connection can end cleanly ('close').
      response.resume();
    });
    request.end();
    return request;
  });
}

export function tcpProbe(
  target: URL,
  config: HealthCheckConfig,
  signal: AbortSignal,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  return settleOnClose(config.timeout, signal, options, (decide) => {
    const socket = net.connect({ host: bareHost(target), port: portOf(target) });
    if (options.unref) socket.unref();
    socket.on('error', (err) => decide({ passed: false, reason: reasonOf(err) }));
    socket.on('connect', () => {
      decide(CONNECTED);
      socket.destroy();
    });
    return socket;
  });
}

/** Anything with destroy() and a final 'close' event: a ClientRequest or a net.Socket. */
interface Closable {
  destroy(): unknown;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Runs `start`, keeps the first result `decide` receives (or 'timeout' / 'aborted'), and resolves
 * with it on the connection's 'close' — so the promise settling means the socket is gone.
 */
function settleOnClose(
  timeoutMs: number,
  signal: AbortSignal,
  options: ProbeOptions,
  start: (decide: (result: ProbeResult) => void) => Closable,
): Promise<ProbeResult> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => {
    let result: ProbeResult | undefined;
    const decide = (r: ProbeResult): void => {
      result ??= r;
    };
    let connection: Closable | undefined;
    const stop = (r: ProbeResult): void => {
      decide(r);
      connection?.destroy();
    };
    // Node turns a delay above 2^31 − 1 ms into 1 ms: clamp, or every probe would time out.
    const timer = setTimeout(() => stop(TIMEOUT), Math.min(timeoutMs, 2 ** 31 - 1));
    if (options.unref) timer.unref();
    const onAbort = (): void => stop(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });

    try {
      connection = start(decide);
    } catch (err) {
      // Synchronous throws (an invalid header value, say) still resolve, never reject.
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve({ passed: false, reason: reasonOf(err) });
      return;
    }
    connection.once('close', () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(result ?? { passed: false, reason: 'closed' });
    });
  });
}

/** `new URL('http://[::1]:80').hostname` keeps the brackets; sockets want the bare address. */
function bareHost(target: URL): string {
  return target.hostname.replace(/^\[(.*)\]$/, '$1');
}

function portOf(target: URL): number {
  if (target.port !== '') return Number(target.port);
  return target.protocol === 'https:' ? 443 : 80;
}

/** A stable, short reason: the error code when there is one ('ECONNREFUSED'), else the message. */
export function reasonOf(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    // Node 20's happy-eyeballs connect reports an AggregateError of per-address errors.
    if (err instanceof AggregateError && err.errors.length > 0) return reasonOf(err.errors[0]);
    if (err instanceof Error && err.message !== '') return err.message;
  }
  return String(err);
}

function noop(): void {}
