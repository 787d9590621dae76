// The example gateway: `npm start`. One Express app on PORT (default 8080) that starts its own
// demo upstreams and puts them behind two route prefixes, next to an ordinary route.
//
//   /api/users   three instances, round robin, sticky cookie
//   /api/orders  three instances, response-time balancing; one is deliberately slow
//
// Ctrl-C (SIGINT) or SIGTERM closes the server, stops the probes and exits 0.

import http from 'node:http';
import express from 'express';
import { loadBalance } from 'loadbalance-middleware';
import { startDemoUpstream, type DemoUpstream } from './demo-upstreams';

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8080);
  const users = await Promise.all(
    ['users-1', 'users-2', 'users-3'].map((n) => startDemoUpstream('users', n)),
  );
  const orders = await Promise.all([
    startDemoUpstream('orders', 'orders-fast-1'),
    startDemoUpstream('orders', 'orders-fast-2'),
    startDemoUpstream('orders', 'orders-slow', { delayMs: 150 }),
  ]);
  const demo: DemoUpstream[] = [...users, ...orders];

  const usersLb = loadBalance({
    upstreams: users.map((u) => ({ url: u.url, id: u.name })),
    algorithm: 'round-robin',
    sticky: { cookie: 'lb_users', ttl: 30 * 60_000 },
    healthCheck: { path: '/health', interval: 2000 },
  });
  const ordersLb = loadBalance({
    upstreams: orders.map((u) => ({ url: u.url, id: u.name })),
    algorithm: 'response-time',
    healthCheck: { path: '/health', interval: 2000 },
  });

  const app = express();
  app.use('/api/users', usersLb);
  app.use('/api/orders', ordersLb);
  app.get('/', (_req, res) => {
    res.json({ try: ['/api/users', '/api/orders'], stats: '/_stats' });
  });
  app.get('/_stats', (_req, res) => {
    res.json({ users: usersLb.stats(), orders: ordersLb.stats() });
  });

  const server = http.createServer(app);
  usersLb.attach(server);
  ordersLb.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  const base = `http://localhost:${port}`;
  console.log(`loadbalance-middleware example gateway on ${base}`);
  console.log(
    `  curl ${base}/api/users          round robin over 3 instances, sticky cookie lb_users`,
  );
  console.log(
    `  curl -c jar -b jar ${base}/api/users   (repeat: the cookie pins you to one instance)`,
  );
  console.log(
    `  curl ${base}/api/orders         response-time: the slow instance gets few requests`,
  );
  console.log(`  curl ${base}/_stats             what each balancer has seen`);
  console.log('Ctrl-C to stop.');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    server.close();
    server.closeAllConnections();
    void Promise.all([usersLb.close(), ordersLb.close(), ...demo.map((u) => u.close())]).then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
