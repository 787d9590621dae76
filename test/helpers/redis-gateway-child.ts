// A balancer instance in its own process, for tests of several instances sharing sessions through
// Redis. Run as `node -r ./test/helpers/ts-register.js test/helpers/redis-gateway-child.ts` with
//   LB_UPSTREAMS        JSON array of upstream URLs (the same list for every instance)
//   REDIS_URL           the Redis to share the session table through
//   LB_COMMAND_TIMEOUT  optional, ms (RedisSessionStore commandTimeout)
// It serves on 127.0.0.1 port 0 and reports on stdout, one JSON object a line:
// { event: 'listening', port } once, then { event: 'storeError', code, message } per store error.
// It exits on SIGTERM or when its stdin ends (the parent went away), closing everything it opened.
// It owns nothing else: no assertions here, the test reads its output.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBalancer } from 'loadbalance-middleware';
import { RedisSessionStore } from 'loadbalance-middleware/redis';

function report(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const upstreams = JSON.parse(process.env.LB_UPSTREAMS ?? '[]') as string[];
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const commandTimeout = process.env.LB_COMMAND_TIMEOUT
  ? Number(process.env.LB_COMMAND_TIMEOUT)
  : undefined;

const store = new RedisSessionStore(
  commandTimeout === undefined ? { url: redisUrl } : { url: redisUrl, commandTimeout },
);
const balancer = createBalancer({
  upstreams,
  sticky: { store, ttl: 60_000 },
  healthCheck: false,
});
balancer.on('storeError', ({ error }) => {
  report({ event: 'storeError', code: (error as { code?: unknown }).code, message: error.message });
});

const server = http.createServer((req, res) => balancer.handle(req, res));
server.listen(0, '127.0.0.1', () => {
  report({ event: 'listening', port: (server.address() as AddressInfo).port, pid: process.pid });
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  // Should closing ever stall, do not outlive the test run.
  setTimeout(() => process.exit(1), 10_000).unref();
  server.close();
  server.closeAllConnections();
  void Promise.allSettled([balancer.close(), store.close()]).then(() => {
    process.stdin.destroy();
    process.exitCode = 0;
  });
}

process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
