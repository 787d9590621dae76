// Child process: one proxy under test, listening on 127.0.0.1 on a free port, in front of the
// upstreams it is given. Each contender is what a user would write in a few lines with that
// library, with a keep-alive agent to the upstreams (without one http-proxy sends
// `Connection: close` upstream) and trivial rotation where the library has no balancing.
//
// Each library is loaded only by the contender that uses it, so a profile shows no other
// library's start-up and the process holds only what it runs.
//
// Run by the orchestrator only: node contender.js '{"kind":"http-proxy","upstreams":[…]}'.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Options } from '../../src/index';
import { serveParent, specOf } from '../lib/proc';

export type ContenderKind =
  | 'http-proxy'
  | 'httpxy'
  | 'undici'
  | 'balancer'
  | 'express-http-proxy'
  | 'express-hpm'
  | 'express-balancer';

export interface ContenderSpec {
  readonly kind: ContenderKind;
  readonly upstreams: readonly string[];
  /** For 'balancer' and 'express-balancer': options besides `upstreams`. */
  readonly options?: Omit<Options, 'upstreams'>;
}

export interface ContenderReady {
  readonly port: number;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** What every contender shares: an agent like the balancer's (keep-alive, 256 sockets, LIFO). */
function keepAliveAgent(): http.Agent {
  return new http.Agent({
    keepAlive: true,
    maxSockets: 256,
    maxFreeSockets: 64,
    scheduling: 'lifo',
  });
}

function rotation(upstreams: readonly string[]): () => string {
  let i = 0;
  return () => upstreams[i++ % upstreams.length]!;
}

function badGateway(res: http.ServerResponse): void {
  if (res.headersSent) res.destroy();
  else {
    res.statusCode = 502;
    res.end();
  }
}

async function bareHttpProxy(upstreams: readonly string[]): Promise<Handler> {
  const { default: httpProxy } = await import('http-proxy');
  const proxy = httpProxy.createProxyServer({ agent: keepAliveAgent() });
  const next = rotation(upstreams);
  proxy.on('error', (_error, _req, res) => badGateway(res as http.ServerResponse));
  return (req, res) => proxy.web(req, res, { target: next() });
}

export async function bareHttpxy(upstreams: readonly string[]): Promise<Handler> {
  // httpxy is ESM-only; Node 20.19+ can require() it, and import() works everywhere.
  const { createProxyServer } = await import('httpxy');
  const proxy = createProxyServer({ agent: keepAliveAgent() });
  const next = rotation(upstreams);
  return (req, res) => {
    proxy.web(req, res, { target: next() }).catch(() => badGateway(res));
  };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);

/** undici Pool per upstream (pipelining 1), streaming the answer into the client response. */
export async function undiciForwarder(upstreams: readonly string[]): Promise<Handler> {
  const { Pool } = await import('undici');
  const pools = upstreams.map((u) => new Pool(u, { connections: 256, pipelining: 1 }));
  let i = 0;
  return (req, res) => {
    const pool = pools[i++ % pools.length]!;
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    pool.stream(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers,
        body: hasBody ? req : null,
      },
      ({ statusCode, headers: upstreamHeaders }) => {
        for (const name of Object.keys(upstreamHeaders)) {
          if (HOP_BY_HOP.has(name)) delete upstreamHeaders[name];
        }
        res.writeHead(statusCode, upstreamHeaders as http.OutgoingHttpHeaders);
        return res;
      },
      (error) => {
        if (error) badGateway(res);
      },
    );
  };
}

async function expressApp(middleware: Handler): Promise<Handler> {
  const { default: express } = await import('express');
  const app = express();
  app.use(middleware);
  return app;
}

async function expressHpm(upstreams: readonly string[]): Promise<Handler> {
  const { default: express } = await import('express');
  const { createProxyMiddleware } = await import('http-proxy-middleware');
  const next = rotation(upstreams);
  const app = express();
  app.use(
    createProxyMiddleware({
      target: upstreams[0],
      router: () => next(),
      agent: keepAliveAgent(),
    }),
  );
  return app;
}

async function main(): Promise<void> {
  const spec = specOf<ContenderSpec>();
  const { upstreams } = spec;
  const closers: Array<() => Promise<void> | void> = [];
  let handler: Handler;
  switch (spec.kind) {
    case 'http-proxy':
      handler = await bareHttpProxy(upstreams);
      break;
    case 'httpxy':
      handler = await bareHttpxy(upstreams);
      break;
    case 'undici':
      handler = await undiciForwarder(upstreams);
      break;
    case 'balancer': {
      const { createBalancer } = await import('../../src/index.js');
      const balancer = createBalancer({ ...spec.options, upstreams });
      closers.push(() => balancer.close());
      handler = (req, res) => balancer.handle(req, res);
      break;
    }
    case 'express-http-proxy':
      handler = await expressApp(await bareHttpProxy(upstreams));
      break;
    case 'express-hpm':
      handler = await expressHpm(upstreams);
      break;
    case 'express-balancer': {
      const { loadBalance } = await import('../../src/index.js');
      const lb = loadBalance({ ...spec.options, upstreams });
      closers.push(() => lb.close());
      handler = await expressApp(lb);
      break;
    }
  }
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serveParent(
    { port: (server.address() as AddressInfo).port } satisfies ContenderReady,
    {},
    async () => {
      server.closeAllConnections();
      server.close();
      for (const close of closers) await close();
    },
  );
}

if (require.main === module) void main();
