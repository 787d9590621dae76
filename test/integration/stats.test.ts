// stats() after known traffic: the contract's fields exactly, top-level counters per client
// request, per-upstream counters per attempt (retries included), times to response headers.

import http from 'node:http';
import { createBalancer } from '../../src';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import { freePortThatRefuses, slowUpstream, startUpstream } from '../helpers/upstreams';

test('stats() after known traffic', async () => {
  const fast = await startUpstream();
  const slow = await slowUpstream(40);
  const dead = await freePortThatRefuses();
  const balancer = createBalancer({
    upstreams: [
      { url: fast.url, id: 'fast' },
      { url: slow.url, id: 'slow', weight: 2 },
      { url: dead, id: 'dead' },
    ],
    algorithm: 'round-robin',
    healthCheck: false,
    passiveHealth: false,
  });
  const server = await listen(http.createServer((req, res) => balancer.handle(req, res)));
  try {
    for (let i = 0; i < 9; i++) expect((await send(urlOf(server, '/'))).status).toBe(200);
    const stats = balancer.stats();
    expect(Object.keys(stats).sort()).toEqual([
      'averageResponseTimeMs',
      'failedRequests',
      'successfulRequests',
      'totalRequests',
      'upstreams',
    ]);
    expect(stats).toMatchObject({ totalRequests: 9, successfulRequests: 9, failedRequests: 0 });
    const byId = Object.fromEntries(stats.upstreams.map((u) => [u.id, u]));
    expect(Object.keys(byId.fast!).sort()).toEqual([
      'activeConnections',
      'averageResponseTimeMs',
      'ejected',
      'failedRequests',
      'health',
      'id',
      'source',
      'totalRequests',
      'url',
      'weight',
    ]);
    expect(byId.fast).toMatchObject({
      url: fast.url,
      weight: 1,
      health: 'unknown',
      ejected: false,
      activeConnections: 0,
      failedRequests: 0,
    });
    expect(byId.slow).toMatchObject({ weight: 2, failedRequests: 0, activeConnections: 0 });
    // Every attempt on the dead upstream failed and was retried on another: attempts are counted.
    expect(byId.dead!.totalRequests).toBe(byId.dead!.failedRequests);
    expect(byId.dead!.totalRequests).toBeGreaterThan(0);
    expect(byId.fast!.totalRequests + byId.slow!.totalRequests).toBe(9);
    expect(byId.dead!.averageResponseTimeMs).toBe(0);
    expect(byId.slow!.averageResponseTimeMs).toBeGreaterThanOrEqual(40);
    expect(byId.fast!.averageResponseTimeMs).toBeLessThan(byId.slow!.averageResponseTimeMs);
    const expectedMean =
      (byId.fast!.averageResponseTimeMs * byId.fast!.totalRequests +
        byId.slow!.averageResponseTimeMs * byId.slow!.totalRequests) /
      9;
    expect(stats.averageResponseTimeMs).toBeCloseTo(expectedMean, 6);
  } finally {
    await balancer.close();
    await closeServer(server);
    await Promise.all([fast.close(), slow.close()]);
  }
});

test('failedRequests counts the answers the balancer gave itself', async () => {
  const dead = await freePortThatRefuses();
  const balancer = createBalancer({
    upstreams: [dead],
    healthCheck: false,
    passiveHealth: false,
    retries: 0,
  });
  const server = await listen(http.createServer((req, res) => balancer.handle(req, res)));
  try {
    for (let i = 0; i < 3; i++) expect((await send(urlOf(server, '/'))).status).toBe(502);
    expect(balancer.stats()).toMatchObject({
      totalRequests: 3,
      successfulRequests: 0,
      failedRequests: 3,
      averageResponseTimeMs: 0,
    });
    expect(balancer.stats().upstreams[0]).toMatchObject({
      totalRequests: 3,
      failedRequests: 3,
      activeConnections: 0,
    });
  } finally {
    await balancer.close();
    await closeServer(server);
  }
});
