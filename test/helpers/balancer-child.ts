// A balancer alone in its own process, so a test can measure that process's memory (RSS) without
// the test's upstreams and clients in it. Run as
//   node -r ./test/helpers/ts-register.js test/helpers/balancer-child.ts
// with LB_UPSTREAMS, a JSON array of upstream URLs. It serves createBalancer() on 127.0.0.1
// port 0 and reports on stdout, one JSON object a line: { event: 'listening', port, pid } once,
// then { event: 'stats', stats } for each "stats" line on its stdin. It exits when its stdin
// ends (the parent went away) or on SIGTERM, closing everything it opened. No assertions here.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { createBalancer } from 'loadbalance-middleware';

function report(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const upstreams = JSON.parse(process.env.LB_UPSTREAMS ?? '[]') as string[];
const balancer = createBalancer({ upstreams, healthCheck: false });
const server = http.createServer((req, res) => balancer.handle(req, res));
server.listen(0, '127.0.0.1', () => {
  report({ event: 'listening', port: (server.address() as AddressInfo).port, pid: process.pid });
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(1), 10_000).unref(); // never outlive the test run
  server.close();
  server.closeAllConnections();
  void balancer.close().then(() => {
    process.stdin.destroy();
    process.exitCode = 0;
  });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'stats') report({ event: 'stats', stats: balancer.stats() });
});
lines.on('close', stop);
process.on('SIGTERM', stop);
