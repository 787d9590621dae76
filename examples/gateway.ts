// The example gateway: `npm start`. One Express app on PORT (default 8080).
//
// Without arguments it starts its own demo upstreams in this process:
//   /api/users   three instances, round robin, sticky cookie; users-3's health flaps
//   /api/orders  three instances, response-time balancing; one is deliberately slow
// With `--config gateway.json` it puts the routes of that file in front of real upstreams.
// Either way: live status pages under /_lb, Prometheus metrics at /metrics, stats at /_stats.
//
// SIGINT (Ctrl-C) or SIGTERM closes the server, stops the probes and exits 0.

import http from 'node:http';
import express from 'express';
import { Registry } from 'prom-client';
import { loadBalance, type LoadBalancer } from 'loadbalance-middleware';
import { readGatewayConfig, type RouteConfig } from './gateway-config';
import { startDemoUpstream, type DemoUpstream } from './demo-upstreams';

interface Demo {
  readonly routes: RouteConfig[];
  readonly upstreams: DemoUpstream[];
  readonly timers: NodeJS.Timeout[];
}

/** Six demo services and the two routes in front of them. */
async function startDemo(): Promise<Demo> {
  const users = await Promise.all(
    ['users-1', 'users-2', 'users-3'].map((name) => startDemoUpstream('users', name)),
  );
  const orders = await Promise.all([
    startDemoUpstream('orders', 'orders-fast-1'),
    startDemoUpstream('orders', 'orders-fast-2'),
    startDemoUpstream('orders', 'orders-slow', { delayMs: 150 }),
  ]);
  // users-3 goes down for 10 s every 20 s: watch its health flip and its clients move.
  let down = false;
  const flap = setInterval(() => {
    down = !down;
    users[2]!.setDown(down);
  }, 10_000);
  flap.unref();
  return {
    upstreams: [...users, ...orders],
    timers: [flap],
    routes: [
      {
        prefix: '/api/users',
        options: {
          upstreams: users.map((u) => ({ url: u.url, id: u.name })),
          algorithm: 'round-robin',
          sticky: { cookie: 'lb_users', ttl: 30 * 60_000 },
          healthCheck: {
            path: '/health',
            interval: 1000,
            failureThreshold: 2,
            successThreshold: 2,
          },
        },
      },
      {
        prefix: '/api/orders',
        options: {
          upstreams: orders.map((u) => ({ url: u.url, id: u.name })),
          algorithm: 'response-time',
          healthCheck: { path: '/health', interval: 2000 },
        },
      },
    ],
  };
}

function configFileArgument(argv: readonly string[]): string | undefined {
  const at = argv.indexOf('--config');
  if (at === -1) return undefined;
  const file = argv[at + 1];
  if (!file) throw new Error('--config needs a file: npm start -- --config gateway.json');
  return file;
}

async function main(): Promise<void> {
  const defaultPort = Number(process.env.PORT ?? 8080);
  const configFile = configFileArgument(process.argv.slice(2));
  const demo = configFile ? undefined : await startDemo();
  const config = configFile
    ? readGatewayConfig(configFile, defaultPort)
    : { port: defaultPort, routes: demo!.routes };

  const app = express();
  const registry = new Registry();
  const pools: Array<{ prefix: string; name: string; lb: LoadBalancer }> = [];
  for (const route of config.routes) {
    const lb = loadBalance({ ...route.options, metrics: { registry } });
    lb.on('health', ({ upstream, from, to, reason }) =>
      console.log(`[${route.prefix}] ${upstream}: ${from} → ${to} (${reason})`),
    );
    lb.on('eject', ({ upstream, ms, reason }) =>
      console.log(`[${route.prefix}] ${upstream} ejected for ${ms} ms (${reason})`),
    );
    app.use(route.prefix, lb);
    const name = route.prefix.split('/').filter(Boolean).pop() ?? 'root';
    app.use(`/_lb/${name}`, lb.statusPage({ title: `${route.prefix} pool` }));
    pools.push({ prefix: route.prefix, name, lb });
  }
  app.get('/metrics', (_req, res, next) => {
    registry.metrics().then((text) => res.type(registry.contentType).send(text), next);
  });
  app.get('/_lb', (_req, res) => {
    const links = pools.map((p) => `<li><a href="/_lb/${p.name}">${p.prefix}</a></li>`).join('');
    res.type('html').send(`<!doctype html><title>pools</title><h1>Pools</h1><ul>${links}</ul>`);
  });
  app.get('/', (_req, res) => {
    res.json({
      routes: pools.map((p) => p.prefix),
      status: '/_lb',
      metrics: '/metrics',
      stats: '/_stats',
    });
  });
  app.get('/_stats', (_req, res) => {
    res.json(Object.fromEntries(pools.map((p) => [p.prefix, p.lb.stats()])));
  });

  const server = http.createServer(app);
  for (const { lb } of pools) lb.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, resolve);
  });
  const { port } = server.address() as { port: number };
  const base = `http://localhost:${port}`;
  console.log(`loadbalance-middleware example gateway on ${base}`);
  for (const { prefix } of pools) console.log(`  curl ${base}${prefix}`);
  if (demo) {
    console.log(
      `  curl -c jar -b jar ${base}/api/users    repeat it: the cookie pins you to one instance`,
    );
    console.log(`  curl ${base}/api/orders                  the slow instance gets few requests`);
  }
  console.log(`  open ${base}/_lb                         live status pages, one per pool`);
  console.log(`  curl ${base}/metrics                     Prometheus metrics`);
  console.log(`  curl ${base}/_stats                      what each balancer has seen`);
  console.log('Ctrl-C to stop.');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    for (const timer of demo?.timers ?? []) clearInterval(timer);
    server.close();
    server.closeAllConnections();
    void Promise.all([
      ...pools.map((p) => p.lb.close()),
      ...(demo?.upstreams ?? []).map((u) => u.close()),
    ]).then(() => {
      console.log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
