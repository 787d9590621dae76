// Shared test helper: real HTTP upstreams on 127.0.0.1, port 0, that a test can script — slow,
// answering a (mutable) status, hanging, resetting, or anything via a handler. It owns only
// test servers: no mocks, never the public internet. close() ends keep-alive and hanging
// sockets too, so Jest's --detectOpenHandles stays quiet.

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** Receives each request with its 1-based number, so a test can fail "on request N". */
export type UpstreamHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  requestNumber: number,
) => void;

export interface TestUpstream {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Requests received so far. */
  readonly requests: number;
  /** Requests being handled now (response not yet closed). */
  readonly inFlight: number;
  /** The most requests ever handled at once. */
  readonly maxInFlight: number;
  /** Stops listening and destroys every open socket, keep-alive and hanging ones included. */
  close(): Promise<void>;
}

export interface StatusUpstream extends TestUpstream {
  /** The status every request gets; change it to flip the upstream between up and down. */
  status: number;
}

const ok: UpstreamHandler = (_req, res) => {
  res.end('ok');
};

/** Starts a real HTTP server on 127.0.0.1 on a free port. Listen on `port` to reuse one. */
export async function startUpstream(
  handler: UpstreamHandler = ok,
  port = 0,
): Promise<TestUpstream> {
  let requests = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const server = http.createServer((req, res) => {
    requests++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    handler(req, res, requests);
  });
  // A client that resets mid-request must not fail the test through an unhandled error.
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    server,
    get requests() {
      return requests;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Answers `status` after `delayMs` (the timer is cleared if the client goes away). */
export function slowUpstream(delayMs: number, status = 200): Promise<TestUpstream> {
  return startUpstream((_req, res) => {
    const timer = setTimeout(() => {
      res.statusCode = status;
      res.end('slow');
    }, delayMs);
    res.on('close', () => clearTimeout(timer));
  });
}

/** Answers `status` to every request; set `.status` to change it later. */
export async function statusUpstream(status: number, port = 0): Promise<StatusUpstream> {
  const state = { status };
  const upstream = await startUpstream((_req, res) => {
    res.statusCode = state.status;
    res.end(String(state.status));
  }, port);
  return Object.defineProperties(upstream, {
    status: {
      get: () => state.status,
      set: (value: number) => {
        state.status = value;
      },
      enumerable: true,
    },
  }) as StatusUpstream;
}

/** Accepts the connection and reads the request but never answers (until close()). */
export function hangingUpstream(): Promise<TestUpstream> {
  return startUpstream(() => {});
}

/** Destroys the socket on each request: the client sees ECONNRESET ('socket hang up'). */
export function resettingUpstream(): Promise<TestUpstream> {
  return startUpstream((req) => req.socket.destroy());
}

/** A URL on 127.0.0.1 where nothing listens: bind port 0, read the port, close. */
export async function freePortThatRefuses(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * Polls `predicate` until it holds, or rejects after `timeoutMs` with `message`. For waiting on
 * asynchronous effects without sleeps that bet on tight margins.
 */
export async function waitFor(
  predicate: () => boolean,
  { timeoutMs = 5000, intervalMs = 10, message = 'condition' } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`waitFor: ${message} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves after `ms`; only for asserting that something does NOT happen within a window. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
