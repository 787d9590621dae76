// Example: one port served by N worker processes (node:cluster), each with its own balancer, all
// sharing the sticky session table in Redis, so a client stays on its upstream whichever worker
// the kernel hands its connection to. The primary starts three demo upstreams and the workers;
// it serves no requests itself. This file shows the setup; it is not part of the package.
//
//   npm run build && npx tsc -p tsconfig.run.json && node .run/examples/cluster.js
//
// Environment: PORT (default 8080), WORKERS (default os.availableParallelism(), at least 2),
// REDIS_URL (default redis://127.0.0.1:6379; e.g. `redis-server --port 6379 --save ''`).
// Without Redis it still serves, unpinned, and logs the store errors (the balancer fails open).
// Ctrl-C (SIGINT) or SIGTERM stops the workers, then the demo upstreams, and exits.

import cluster from 'node:cluster';
import http from 'node:http';
import os from 'node:os';
import { loadBalance } from 'loadbalance-middleware';
import { RedisSessionStore } from 'loadbalance-middleware/redis';
import { startDemoUpstream } from './demo-upstreams';

const PORT = Number(process.env.PORT ?? 8080);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function primary(): Promise<void> {
  const workers = Math.max(2, Number(process.env.WORKERS ?? os.availableParallelism()));
  const demo = await Promise.all(
    ['app-1', 'app-2', 'app-3'].map((n) => startDemoUpstream('app', n)),
  );
  // Workers get the same list: with the same upstream ids they agree on what a session names.
  const upstreams = JSON.stringify(demo.map((u) => ({ id: u.name, url: u.url })));
  let stopping = false;
  for (let i = 0; i < workers; i++) cluster.fork({ LB_UPSTREAMS: upstreams });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    console.log(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    cluster.fork({ LB_UPSTREAMS: upstreams });
  });

  let online = 0;
  cluster.on('listening', () => {
    if (++online !== workers) return;
    const base = `http://localhost:${PORT}`;
    console.log(
      `${workers} workers on ${base}, sessions in ${REDIS_URL.replace(/\/\/[^@]*@/, '//')}`,
    );
    console.log(
      `  curl -c jar -b jar ${base}/   repeat it: same instance, whichever worker answers`,
    );
    console.log(`  curl ${base}/                 no cookie: round robin over app-1..3`);
  });

  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    const done = (): void => {
      void Promise.all(demo.map((u) => u.close())).then(() => process.exit(0));
    };
    if (Object.keys(cluster.workers ?? {}).length === 0) done();
    else cluster.on('exit', () => Object.keys(cluster.workers ?? {}).length === 0 && done());
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

function worker(): void {
  const upstreams = JSON.parse(process.env.LB_UPSTREAMS ?? '[]') as Array<{
    id: string;
    url: string;
  }>;
  // One Redis connection per worker; it reconnects by itself, and a command that Redis does not
  // answer within commandTimeout fails, so a request is never held up by Redis for longer.
  const store = new RedisSessionStore({ url: REDIS_URL, commandTimeout: 500 });
  const lb = loadBalance({
    upstreams,
    algorithm: 'round-robin',
    sticky: { store, ttl: 30 * 60_000, secret: process.env.LB_SECRET ?? 'change-me' },
    healthCheck: { path: '/health', interval: 2000 },
  });
  let lastReport = 0;
  lb.on('storeError', ({ error }) => {
    // At most one line every 5 s per worker: during an outage every request reports one.
    if (Date.now() - lastReport < 5_000) return;
    lastReport = Date.now();
    console.warn(
      `worker ${process.pid}: session store unavailable, balancing unpinned (${error.message})`,
    );
  });

  const server = http.createServer((req, res) => {
    res.setHeader('x-worker', String(process.pid));
    lb(req, res);
  });
  lb.attach(server);
  server.listen(PORT);

  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    server.close();
    server.closeAllConnections();
    void Promise.allSettled([lb.close(), store.close()]).then(() => process.exit(0));
  };
  process.on('SIGTERM', close);
  // Ctrl-C reaches the whole process group; the primary sends SIGTERM, which is what counts.
  process.on('SIGINT', () => undefined);
}

if (cluster.isPrimary) {
  primary().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  worker();
}
