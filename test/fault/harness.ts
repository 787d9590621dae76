// Shared by the fault tests (not a test file itself): a recorder of process-level failures, a
// balancer on a plain node:http server, a client that reports a cut-off response as such, and a
// steerable strategy so a test decides which upstream meets the fault.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import vm from 'node:vm';
import { createBalancer, type Balancer, type Options, type Strategy } from '../../src';
import { waitFor } from '../helpers/upstreams';

/**
 * Records 'unhandledRejection' and 'uncaughtException' on the real process. Jest gives each test
 * file a copy of `process` whose listeners the real process never calls, so the recorder reaches
 * the real one through the main context.
 */
export interface ProcessFaults {
  readonly seen: ReadonlyArray<{ readonly event: string; readonly error: unknown }>;
  stop(): void;
}

export function recordProcessFaults(): ProcessFaults {
  const real = vm.runInThisContext('process') as NodeJS.Process;
  const seen: Array<{ event: string; error: unknown }> = [];
  const onRejection = (error: unknown): void => {
    seen.push({ event: 'unhandledRejection', error });
  };
  const onException = (error: unknown): void => {
    seen.push({ event: 'uncaughtException', error });
  };
  real.on('unhandledRejection', onRejection);
  real.on('uncaughtException', onException);
  return {
    seen,
    stop: () => {
      real.off('unhandledRejection', onRejection);
      real.off('uncaughtException', onException);
    },
  };
}

export interface Served {
  readonly balancer: Balancer;
  readonly server: http.Server;
  readonly url: string;
  close(): Promise<void>;
}

/** createBalancer() behind http.createServer on 127.0.0.1:0. */
export async function serveBalancer(options: Options): Promise<Served> {
  const balancer = createBalancer(options);
  const server = http.createServer((req, res) => balancer.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    balancer,
    server,
    url: `http://127.0.0.1:${port}`,
    close() {
      closing ??= (async () => {
        await balancer.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

export interface Outcome {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Headers came, then the response stopped before its end: a cut-off response. */
  cut: boolean;
}

export interface RequestProbe {
  /** Resolves when the response headers reach the client. */
  readonly headers: Promise<void>;
  /** Body bytes the client has received so far. */
  readonly received: number;
}

/** A GET (or `method`) without keep-alive; `probe` lets a script watch the client's progress. */
export function request(
  url: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer } = {},
): { probe: RequestProbe; done: Promise<Outcome> } {
  let gotHeaders!: () => void;
  const headers = new Promise<void>((resolve) => (gotHeaders = resolve));
  const state = { received: 0 };
  const done = new Promise<Outcome>((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        gotHeaders();
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          state.received += chunk.length;
        });
        res.on('error', () => {}); // 'aborted': reported below as `cut`
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            cut: !res.complete,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
  return {
    probe: {
      headers,
      get received() {
        return state.received;
      },
    },
    done,
  };
}

/**
 * Picks the upstream with id `steer.to` while it is a candidate, else the first other candidate:
 * the test, not chance, decides who meets the fault; passive ejection still wins.
 */
export function steeringStrategy(steer: { to: string }): Strategy {
  return {
    name: 'steer',
    pick: (candidates) =>
      candidates.find((u) => u.id === steer.to) ??
      candidates.find((u) => u.id !== steer.to) ??
      candidates[0],
  };
}

export function inFlight(balancer: Balancer): number[] {
  return balancer.stats().upstreams.map((u) => u.activeConnections);
}

export async function waitIdle(balancer: Balancer): Promise<void> {
  await waitFor(() => inFlight(balancer).every((n) => n === 0), {
    timeoutMs: 10_000,
    message: 'every in-flight count back to 0',
  });
}

/** A body the balancer wrote itself: generic, no address, stack or error text. */
export function expectGeneric(body: string, status: number, ...urls: string[]): void {
  const text = { 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' }[
    status as 502 | 503 | 504
  ];
  expect(body).toBe(`${status} ${text}\n`);
  for (const url of urls) expect(body).not.toContain(new URL(url).port);
}
