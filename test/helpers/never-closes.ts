// Child process for the lifecycle test: serves one request through a balancer with probes and a
// session store, closes its server, keeps a second balancer probing that never served, and never
// calls close(). It must exit by itself.
import http from 'node:http';
import { loadBalance, MemorySessionStore } from 'loadbalance-middleware';

const upstream = process.argv[2]!;
const lb = loadBalance({
  upstreams: [upstream],
  healthCheck: { path: '/health', interval: 50 },
  sticky: { store: new MemorySessionStore() },
});
// A second balancer that never serves anything: its probes must not hold the process either.
const idle = loadBalance({
  upstreams: [upstream],
  healthCheck: { interval: 50 },
  passiveHealth: true,
});
void idle;
const server = http.createServer((req, res) => lb(req, res));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
    res.resume();
    res.on('end', () => {
      console.log(`served ${res.statusCode}`);
      server.close();
    });
  });
});
