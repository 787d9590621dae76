// CPU time per request, A/B: a diagnostic for hot-path work, steadier than requests/s on a
// shared machine. One process (pin it: taskset -c 0) holds an upstream, the forwarders under
// comparison and a keep-alive client with `connections` requests in flight; each slice sends
// `requests` GETs through one forwarder and reads process.cpuUsage() around it. Forwarders
// alternate A B A B … and the median per forwarder is printed, with its difference from the
// first. Since client and upstream are the same for every forwarder, the differences are the
// forwarders' own; time lost to other processes is not CPU time of this one.
//
// npm run bench runs it as a pinned child (a 'run' command over IPC); by hand:
// taskset -c 0 node .run/bench/proxy/overhead.js [rounds] [requests]  (after tsc -p tsconfig.run.json)
// LB_VARIANT=/path/to/compiled/index.js adds a second createBalancer() from another build (a
// copy of src/ with a hot-path change, compiled elsewhere), to measure a proposal without
// touching this tree.

import { createRequire } from 'node:module';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { createBalancer, loadBalance } from '../../src/index';
import { serveParent } from '../lib/proc';
import { bareHttpxy, undiciForwarder } from './contender';
import { median } from '../lib/stats';

export interface OverheadRow {
  readonly name: string;
  /** CPU µs per request for client + forwarder + upstream. */
  readonly totalUs: number;
  /** The forwarder's own: total minus the direct row's (undefined for direct). */
  readonly ownUs?: number;
  /** The same-framework floor this row is compared with: bare http-proxy in node:http or Express. */
  readonly floor?: string;
  /** ownUs ÷ the floor's ownUs. */
  readonly vsFloor?: number;
}

const floorOf = (name: string): string =>
  name.startsWith('express') ? 'express + http-proxy' : 'node:http + http-proxy';

const load = createRequire(__filename);

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const BODY = Buffer.from('x'.repeat(99) + '\n');

function listen(handler: Handler): Promise<http.Server> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (server: http.Server): number => (server.address() as AddressInfo).port;

/** `count` GETs with `connections` in flight; resolves when all have been read. */
function drive(port: number, agent: http.Agent, count: number, connections: number): Promise<void> {
  let sent = 0;
  let done = 0;
  return new Promise((resolve, reject) => {
    const one = (): void => {
      if (sent >= count) return;
      sent++;
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume();
          res.once('end', () => {
            if (++done === count) resolve();
            else one();
          });
        })
        .once('error', reject);
    };
    for (let i = 0; i < connections; i++) one();
  });
}

/** Express apps in front of a handler, and hpm 3 with a router, as in the cost benchmark. */
async function expressForwarders(
  target: string,
  agent: http.Agent,
  bare: Handler,
): Promise<{ rows: Array<[string, Handler]>; close: () => Promise<void> }> {
  const { default: express } = await import('express');
  const { createProxyMiddleware } = await import('http-proxy-middleware');
  const app = (middleware: Handler): Handler => {
    const a = express();
    a.use(middleware);
    return a;
  };
  const lb = loadBalance({ upstreams: [target], healthCheck: false });
  const hpmApp = express();
  hpmApp.use(createProxyMiddleware({ target, router: () => target, agent }));
  return {
    rows: [
      ['express + http-proxy', app(bare)],
      ['express + http-proxy-middleware 3', hpmApp],
      ['express + loadBalance()', app(lb)],
    ],
    close: () => lb.close(),
  };
}

export async function measureOverhead(rounds: number, requests: number): Promise<OverheadRow[]> {
  const connections = 10;
  const upstream = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  });
  const target = `http://127.0.0.1:${portOf(upstream)}`;
  const proxy = httpProxy.createProxyServer({
    agent: new http.Agent({
      keepAlive: true,
      maxSockets: 256,
      maxFreeSockets: 64,
      scheduling: 'lifo',
    }),
  });
  proxy.on('error', (_e, _req, res) => (res as http.ServerResponse).destroy());
  const balancer = createBalancer({ upstreams: [target], healthCheck: false });
  const forwarders: Array<[string, Handler]> = [
    ['node:http + http-proxy', (req, res) => proxy.web(req, res, { target })],
    ['node:http + createBalancer()', (req, res) => balancer.handle(req, res)],
  ];
  forwarders.push(
    ['node:http + httpxy', await bareHttpxy([target])],
    ['node:http + undici Pool', await undiciForwarder([target])],
  );
  const closers: Array<() => Promise<void>> = [() => balancer.close()];
  const variant = process.env.LB_VARIANT;
  if (variant) {
    const other = (load(variant) as { createBalancer: typeof createBalancer }).createBalancer({
      upstreams: [target],
      healthCheck: false,
    });
    closers.push(() => other.close());
    forwarders.push(['createBalancer() from LB_VARIANT', (req, res) => other.handle(req, res)]);
  }
  if (process.env.LB_EXPRESS !== '0') {
    const agent = new http.Agent({
      keepAlive: true,
      maxSockets: 256,
      maxFreeSockets: 64,
      scheduling: 'lifo',
    });
    const express = await expressForwarders(target, agent, forwarders[0]![1]);
    forwarders.push(...express.rows);
    closers.push(express.close);
    if (variant) {
      const { loadBalance: variantLoadBalance } = load(variant) as {
        loadBalance: typeof loadBalance;
      };
      const other = variantLoadBalance({ upstreams: [target], healthCheck: false });
      closers.push(() => other.close());
      const { default: expressFn } = await import('express');
      const app = expressFn();
      app.use(other);
      forwarders.push(['express + loadBalance() from LB_VARIANT', app]);
    }
  }
  const servers = await Promise.all(forwarders.map(([, h]) => listen(h)));
  // Client and upstream alone: what every row above includes besides its forwarder.
  forwarders.push(['direct (no proxy)', () => {}]);
  servers.push(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const samples = forwarders.map(() => [] as number[]);
  if (samples.length !== servers.length) throw new Error('one server per forwarder');
  for (let round = 0; round <= rounds; round++) {
    for (const [i, server] of servers.entries()) {
      const before = process.cpuUsage();
      await drive(portOf(server), agent, requests, connections);
      const used = process.cpuUsage(before);
      if (round > 0) samples[i]!.push((used.user + used.system) / requests); // round 0 warms up
    }
  }
  const direct = median(samples[samples.length - 1]!);
  const own = new Map(forwarders.map(([name], i) => [name, median(samples[i]!) - direct]));
  const rows: OverheadRow[] = forwarders.map(([name], i) => {
    const total = median(samples[i]!);
    if (i === forwarders.length - 1) return { name, totalUs: total };
    const floor = floorOf(name);
    return {
      name,
      totalUs: total,
      ownUs: own.get(name)!,
      floor,
      vsFloor: own.get(name)! / own.get(floor)!,
    };
  });
  agent.destroy();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  for (const close of closers) await close();
  proxy.close();
  return rows;
}

if (require.main === module) {
  if (process.send) {
    serveParent(
      {},
      { run: (a: { rounds: number; requests: number }) => measureOverhead(a.rounds, a.requests) },
    );
  } else {
    void measureOverhead(Number(process.argv[2] ?? 20), Number(process.argv[3] ?? 2000)).then(
      (rows) => {
        for (const row of rows) {
          console.log(
            `${row.name.padEnd(34)} ${row.totalUs.toFixed(1)} µs CPU per request in all` +
              (row.ownUs === undefined
                ? ''
                : `, ${row.ownUs.toFixed(1)} µs the forwarder's own (${row.vsFloor!.toFixed(2)}× ${row.floor}'s)`),
          );
        }
      },
    );
  }
}
