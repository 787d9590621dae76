// A strategy of your own: canary routing. Requests carrying `x-canary: 1` go to the canary
// upstreams, everything else rotates over the stable ones; if one side has nothing routable, the
// other takes the traffic. `hashKey` hands the header to pick() as ctx.key.
//
//   npm run build && npx tsc -p tsconfig.run.json && node .run/examples/custom-strategy.js
//   curl localhost:8080/api              → a stable instance
//   curl -H 'x-canary: 1' localhost:8080/api   → the canary

import http from 'node:http';
import express from 'express';
import { loadBalance, type Strategy, type UpstreamView } from 'loadbalance-middleware';
import { startDemoUpstream } from './demo-upstreams';

function canaryStrategy(isCanary: (u: UpstreamView) => boolean): Strategy {
  let turn = 0;
  const rotate = (list: readonly UpstreamView[]) => list[turn++ % list.length];
  return {
    name: 'canary',
    // Pure and synchronous: it sees only routable upstreams and decides from them alone.
    pick(candidates, ctx) {
      const canaries = candidates.filter(isCanary);
      const stable = candidates.filter((u) => !isCanary(u));
      const wantsCanary = ctx.key === '1';
      const preferred = wantsCanary ? canaries : stable;
      return rotate(preferred.length > 0 ? preferred : candidates);
    },
  };
}

async function main(): Promise<void> {
  const upstreams = await Promise.all([
    startDemoUpstream('api', 'stable-1'),
    startDemoUpstream('api', 'stable-2'),
    startDemoUpstream('api', 'canary-1'),
  ]);
  const lb = loadBalance({
    upstreams: upstreams.map((u) => ({ url: u.url, id: u.name })),
    algorithm: canaryStrategy((u) => u.id.startsWith('canary')),
    hashKey: 'header:x-canary',
  });
  const app = express().use('/api', lb);
  const server = http.createServer(app).listen(Number(process.env.PORT ?? 8080), () => {
    console.log('canary example on http://localhost:8080/api (send x-canary: 1 for the canary)');
  });
  process.once('SIGINT', () => {
    server.close();
    void Promise.all([lb.close(), ...upstreams.map((u) => u.close())]).then(() => process.exit(0));
  });
}

void main();
