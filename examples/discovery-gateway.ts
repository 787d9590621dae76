// The service-discovery example gateway: an Express app whose /api/users pool follows a
// discovery source instead of a fixed list, and prints every change to the pool.
//
//   default          dns(USERS_URL): every address the name resolves to is an upstream. This is
//                    what examples/compose/ runs: `docker compose up --scale users=3`, where
//                    Docker's DNS answers `users` with one address per replica.
//   DISCOVERY=demo   no Docker, no DNS: discover() over demo instances started in this process,
//                    which join and leave a pretend registry every few seconds (DEMO_CHURN_MS).
//
// Environment: PORT (8080), USERS_URL (http://users:3000), DISCOVERY, DEMO_CHURN_MS (3000).
// SIGINT / SIGTERM close the server, stop discovery and probes, and exit 0.

import http from 'node:http';
import express from 'express';
import { discover, dns, loadBalance, type DiscoverySource } from 'loadbalance-middleware';
import { startDemoUpstream, type DemoUpstream } from './demo-upstreams';

interface Demo {
  readonly source: DiscoverySource;
  stop(): Promise<void>;
}

/** Four demo instances; a registry that lists some of them, changing every `churnMs`. */
async function startDemo(churnMs: number): Promise<Demo> {
  const instances: DemoUpstream[] = await Promise.all(
    ['users-1', 'users-2', 'users-3', 'users-4'].map((name) => startDemoUpstream('users', name)),
  );
  const registered = new Set<DemoUpstream>(instances.slice(0, 2));
  const churn = setInterval(() => {
    // Keep between one and all four registered: join when few, leave when many, else either.
    const out = instances.filter((i) => !registered.has(i));
    const join = registered.size === 1 || (out.length > 0 && Math.random() < 0.5);
    const pool = join ? out : [...registered];
    const instance = pool[Math.floor(Math.random() * pool.length)]!;
    if (join) registered.add(instance);
    else registered.delete(instance);
    console.log(`registry: ${instance.name} ${join ? 'joined' : 'left'}`);
  }, churnMs);
  return {
    // What a registry client would do: ask for the instances there are now, as URLs or objects.
    source: discover(() => [...registered].map((i) => ({ url: i.url, id: i.name })), {
      name: 'demo-registry',
      interval: 1000,
    }),
    async stop() {
      clearInterval(churn);
      await Promise.all(instances.map((i) => i.close()));
    },
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8080);
  const demo =
    process.env.DISCOVERY === 'demo'
      ? await startDemo(Number(process.env.DEMO_CHURN_MS ?? 3000))
      : undefined;
  const usersUrl = process.env.USERS_URL ?? 'http://users:3000';
  // Compose networks are IPv4 unless you enable IPv6, hence family 4.
  const source = demo?.source ?? dns(usersUrl, { interval: 5000, family: 4 });

  const users = loadBalance({
    upstreams: source,
    algorithm: 'least-connections',
    healthCheck: { path: '/health', interval: 2000 },
  });
  users.on('discoveryError', ({ source: name, error }) =>
    console.log(`[discovery] ${name}: ${error.message}`),
  );
  users.on('health', ({ upstream, from, to, reason }) =>
    console.log(`[health] ${upstream}: ${from} → ${to} (${reason})`),
  );

  // Print the pool whenever its membership changes (the balancer has no event for it: compare).
  let last = '';
  const watch = setInterval(() => {
    const ids = users
      .stats()
      .upstreams.map((u) => u.id)
      .sort();
    const now = ids.join(', ');
    if (now !== last) console.log(`[pool] ${ids.length} upstream(s): ${now || '(none: 503)'}`);
    last = now;
  }, 250);
  watch.unref();

  const app = express();
  app.use('/api/users', users);
  app.get('/', (_req, res) => {
    res.json({ try: ['/api/users'], stats: '/_stats', source: source.name });
  });
  app.get('/_stats', (_req, res) => {
    res.json(users.stats());
  });
  const server = http.createServer(app);
  users.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  const base = `http://localhost:${(server.address() as { port: number }).port}`;
  console.log(`discovery gateway on ${base}, upstreams from ${source.name}`);
  console.log(`  curl ${base}/api/users     answered by whichever instances are there now`);
  console.log(`  curl ${base}/_stats        the pool, with each upstream's source`);
  console.log('Ctrl-C to stop.');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    clearInterval(watch);
    server.close();
    server.closeAllConnections();
    void Promise.all([users.close(), demo?.stop()]).then(() => {
      console.log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
