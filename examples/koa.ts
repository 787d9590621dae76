// The Koa example: one Koa app on PORT (default 8081) that starts its own demo upstreams and puts
// them behind two koa-mount prefixes, next to ordinary Koa routes. It shows only the Koa glue;
// balancing itself is the same as in examples/gateway.ts.
//
//   /api/users   three instances, round robin, sticky cookie, WebSocket upgrades too
//   /api/orders  two instances, least connections; its failures go through Koa's error handling
//
// Run it: npm run build && npx tsc -p tsconfig.run.json && node .run/examples/koa.js
// Ctrl-C (SIGINT) or SIGTERM closes the server, stops the probes and exits 0.

import http from 'node:http';
import Koa from 'koa';
import mount from 'koa-mount';
import { koaLoadBalance } from 'loadbalance-middleware/koa';
import { startDemoUpstream } from './demo-upstreams';

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8081);
  const userInstances = await Promise.all(
    ['users-1', 'users-2', 'users-3'].map((n) => startDemoUpstream('users', n)),
  );
  const orderInstances = await Promise.all(
    ['orders-1', 'orders-2'].map((n) => startDemoUpstream('orders', n)),
  );
  const demo = [...userInstances, ...orderInstances];

  const users = koaLoadBalance({
    upstreams: userInstances.map((u) => ({ url: u.url, id: u.name })),
    sticky: { cookie: 'lb_users', ttl: 30 * 60_000 },
    healthCheck: { path: '/health', interval: 2000 },
  });
  const orders = koaLoadBalance({
    upstreams: orderInstances.map((u) => ({ url: u.url, id: u.name })),
    algorithm: 'least-connections',
    healthCheck: { path: '/health', interval: 2000 },
    // Rethrowing hands the balancer's 502/503/504 to Koa (the error middleware below).
    onError: (err) => {
      throw err;
    },
  });
  for (const [name, lb] of Object.entries({ users, orders })) {
    lb.on('health', ({ upstream, from, to, reason }) =>
      console.log(`[${name}] ${upstream}: ${from} → ${to} (${reason})`),
    );
  }

  const app = new Koa();
  // An access log: the code after `await next()` runs once the proxied response has ended.
  app.use(async (ctx, next) => {
    const started = Date.now();
    await next();
    console.log(`${ctx.method} ${ctx.originalUrl} ${ctx.status} ${Date.now() - started} ms`);
  });
  // Koa-style error handling, for failures an onError rethrows.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      ctx.status = typeof status === 'number' ? status : 500;
      ctx.body = { error: (error as { code?: unknown }).code ?? 'internal', from: 'koa' };
    }
  });
  app.use(mount('/api/users', users)); // the upstream gets the path without /api/users
  app.use(mount('/api/orders', orders));
  app.use((ctx) => {
    if (ctx.path === '/_stats') ctx.body = { users: users.stats(), orders: orders.stats() };
    else if (ctx.path === '/') ctx.body = { try: ['/api/users', '/api/orders'], stats: '/_stats' };
  });

  const handle = app.callback();
  const server = http.createServer((req, res) => void handle(req, res));
  server.on('upgrade', users.upgrade); // WebSockets: the same listener as with Express
  users.attach(server);
  orders.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  const base = `http://localhost:${(server.address() as { port: number }).port}`;
  console.log(`loadbalance-middleware Koa example on ${base}`);
  console.log(`  curl -c jar -b jar ${base}/api/users/42   repeat it: the cookie pins you`);
  console.log(`  curl ${base}/api/orders                   least connections over 2 instances`);
  console.log(`  curl ${base}/_stats                       what each balancer has seen`);
  console.log('Ctrl-C to stop.');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    server.close();
    server.closeAllConnections();
    void Promise.all([users.close(), orders.close(), ...demo.map((u) => u.close())]).then(() => {
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
