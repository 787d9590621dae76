// Failures as clients see them: 502 / 503 / 504 from the balancer, never a 500, never an
// upstream address or stack; retries on connect failures; and in-flight counts back to zero on
// every path.

import http, { type Server } from 'node:http';
import express from 'express';
import { loadBalance, type LoadBalancer, type BalancerEvents } from '../../src';
import { echoUpstream, sha256, type Echo } from '../helpers/echo';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import {
  freePortThatRefuses,
  hangingUpstream,
  resettingUpstream,
  startUpstream,
  waitFor,
  type TestUpstream,
} from '../helpers/upstreams';
import { blackholeUpstream } from '../helpers/blackhole';
import { randomBytes } from 'node:crypto';

const opened: Array<{ close(): Promise<void> }> = [];

async function serve(lb: LoadBalancer): Promise<Server> {
  const server = await listen(http.createServer(express().use('/api', lb)));
  opened.push({ close: () => lb.close() }, { close: () => closeServer(server) });
  return server;
}

async function upstreamOf(p: Promise<TestUpstream>): Promise<TestUpstream> {
  const u = await p;
  opened.push(u);
  return u;
}

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});

const inFlightOf = (lb: LoadBalancer) => lb.stats().upstreams.map((u) => u.activeConnections);
const allIdle = (lb: LoadBalancer) => inFlightOf(lb).every((n) => n === 0);

function expectNoLeak(body: string, ...urls: string[]): void {
  for (const url of urls) {
    const { host, port } = new URL(url);
    expect(body).not.toContain(host);
    expect(body).not.toContain(port);
  }
  expect(body).not.toMatch(/ECONN|Error|at .*\.js|\/src\//);
}

test('a GET to a pool with one dead upstream always succeeds (connect failures are retried)', async () => {
  const dead = await freePortThatRefuses();
  const a = await upstreamOf(echoUpstream('a'));
  const b = await upstreamOf(echoUpstream('b'));
  const lb = loadBalance({
    upstreams: [dead, a.url, b.url],
    healthCheck: false,
    passiveHealth: false,
  });
  const retries: Array<BalancerEvents['retry']> = [];
  const errors: Array<BalancerEvents['proxyError']> = [];
  lb.on('retry', (e) => retries.push(e)).on('proxyError', (e) => errors.push(e));
  const server = await serve(lb);
  for (let i = 0; i < 30; i++) {
    const reply = await send(urlOf(server, `/api/r${i}`));
    expect(reply.status).toBe(200);
  }
  expect(retries.length).toBeGreaterThan(0);
  expect(retries.every((r) => r.from === dead && r.to !== dead)).toBe(true);
  expect(errors.every((e) => e.upstream === dead)).toBe(true);
  const dead_ = lb.stats().upstreams.find((u) => u.id === dead)!;
  expect(dead_.failedRequests).toBe(retries.length);
  expect(lb.stats()).toMatchObject({
    totalRequests: 30,
    successfulRequests: 30,
    failedRequests: 0,
  });
  expect(allIdle(lb)).toBe(true);
});

test('a streamed POST whose first upstream refuses is retried with its body intact', async () => {
  const dead = await freePortThatRefuses();
  const a = await upstreamOf(echoUpstream('a'));
  const lb = loadBalance({
    upstreams: [dead, a.url],
    healthCheck: false,
    passiveHealth: false,
    algorithm: 'round-robin',
  });
  const server = await serve(lb);
  const body = randomBytes(256 * 1024);
  for (let i = 0; i < 4; i++) {
    const reply = await send(urlOf(server, '/api/upload'), {
      method: 'POST',
      body,
      headers: { 'content-length': body.length },
    });
    expect(reply.status).toBe(200);
    expect(reply.json<Echo>().bodySha256).toBe(sha256(body));
  }
  expect(allIdle(lb)).toBe(true);
});

test('502 when no upstream answers, without revealing anything', async () => {
  const dead1 = await freePortThatRefuses();
  const dead2 = await freePortThatRefuses();
  const lb = loadBalance({ upstreams: [dead1, dead2], healthCheck: false, passiveHealth: false });
  const server = await serve(lb);
  const reply = await send(urlOf(server, '/api/x'));
  expect(reply.status).toBe(502);
  expect(reply.text).toBe('502 Bad Gateway\n');
  expectNoLeak(reply.text, dead1, dead2);
  expect(lb.stats()).toMatchObject({ totalRequests: 1, successfulRequests: 0, failedRequests: 1 });
  expect(allIdle(lb)).toBe(true);
});

test('retries are bounded by `retries`', async () => {
  const deads = await Promise.all([1, 2, 3, 4].map(() => freePortThatRefuses()));
  const lb = loadBalance({
    upstreams: deads,
    healthCheck: false,
    passiveHealth: false,
    retries: 1,
  });
  let attempts = 0;
  lb.on('proxyError', () => attempts++);
  const server = await serve(lb);
  expect((await send(urlOf(server, '/api/x'))).status).toBe(502);
  expect(attempts).toBe(2);
});

test('504 when response headers do not come within `timeout`', async () => {
  const hang = await upstreamOf(hangingUpstream());
  const lb = loadBalance({ upstreams: [hang.url], healthCheck: false, timeout: 300 });
  const server = await serve(lb);
  const reply = await send(urlOf(server, '/api/slow'));
  expect(reply.status).toBe(504);
  expect(reply.text).toBe('504 Gateway Timeout\n');
  expectNoLeak(reply.text, hang.url);
  await waitFor(() => hang.inFlight === 0, { message: 'the upstream request was aborted' });
  expect(allIdle(lb)).toBe(true);
});

test('a timeout is not retried on another upstream', async () => {
  const hang = await upstreamOf(hangingUpstream());
  const fine = await upstreamOf(echoUpstream('fine'));
  const lb = loadBalance({
    upstreams: [hang.url, fine.url],
    healthCheck: false,
    timeout: 1500,
    algorithm: 'round-robin',
  });
  const server = await serve(lb);
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await send(urlOf(server, '/api/x'))).status);
  expect(statuses.sort()).toEqual([200, 200, 504, 504]);
});

test('503 when nothing is routable', async () => {
  const a = await upstreamOf(echoUpstream('a'));
  const lb = loadBalance({ upstreams: [a.url], healthCheck: false });
  const server = await serve(lb);
  lb.removeUpstream(a.url);
  const reply = await send(urlOf(server, '/api/x'));
  expect(reply.status).toBe(503);
  expect(reply.headers['retry-after']).toBe('1');
  expect(reply.text).toBe('503 Service Unavailable\n');
});

test('onError answers failures instead of the balancer', async () => {
  const dead = await freePortThatRefuses();
  const seen: string[] = [];
  const lb = loadBalance({
    upstreams: [dead],
    healthCheck: false,
    onError: (err, _req, res) => {
      seen.push((err as Error & { code: string }).code);
      res.statusCode = 599;
      res.end('custom');
    },
  });
  const server = await serve(lb);
  const reply = await send(urlOf(server, '/api/x'));
  expect(reply.status).toBe(599);
  expect(reply.text).toBe('custom');
  expect(seen).toEqual(['ERR_LB_UPSTREAM_UNREACHABLE']);
});

test('an upstream that resets before answering gets 502 (after the retry) and no crash', async () => {
  const reset = await upstreamOf(resettingUpstream());
  const lb = loadBalance({ upstreams: [reset.url], healthCheck: false, passiveHealth: false });
  const server = await serve(lb);
  const reply = await send(urlOf(server, '/api/x'));
  expect(reply.status).toBe(502);
  expect(allIdle(lb)).toBe(true);
});

test('an upstream that resets mid-body cuts the client response off, and in-flight returns to 0', async () => {
  const cut = await upstreamOf(
    startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
      res.write('x'.repeat(1000));
      setTimeout(() => res.socket?.destroy(), 50);
    }),
  );
  const lb = loadBalance({ upstreams: [cut.url], healthCheck: false });
  const server = await serve(lb);
  const outcome = await new Promise<string>((resolve) => {
    http
      .get(urlOf(server, '/api/x'), { agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        res.on('data', () => {});
        res.on('end', () => resolve('ended'));
        res.on('error', () => resolve('cut'));
        res.on('aborted', () => resolve('cut'));
      })
      .on('error', () => resolve('cut'));
  });
  expect(outcome).toBe('cut');
  await waitFor(() => allIdle(lb), { message: 'in-flight back to 0' });
  expect(lb.stats().upstreams[0]!.failedRequests).toBe(1);
});

test('a client that aborts aborts its upstream request, and in-flight returns to 0', async () => {
  let upstreamSawClose = false;
  const slow = await upstreamOf(
    startUpstream((req, res) => {
      res.on('close', () => {
        upstreamSawClose = !res.writableFinished;
      });
      void req;
    }),
  );
  const lb = loadBalance({ upstreams: [slow.url], healthCheck: false });
  const server = await serve(lb);
  const req = http.get(urlOf(server, '/api/x'), { agent: false });
  req.on('error', () => {});
  await waitFor(() => slow.inFlight === 1, { message: 'request reached the upstream' });
  expect(inFlightOf(lb)).toEqual([1]);
  req.destroy();
  await waitFor(() => upstreamSawClose, { message: 'upstream request aborted' });
  await waitFor(() => allIdle(lb), { message: 'in-flight back to 0' });
});

test('a client that aborts mid-download aborts the upstream response', async () => {
  let upstreamClosedEarly = false;
  const streaming = await upstreamOf(
    startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 5);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosedEarly = !res.writableFinished;
      });
    }),
  );
  const lb = loadBalance({ upstreams: [streaming.url], healthCheck: false });
  const server = await serve(lb);
  await new Promise<void>((resolve) => {
    const req = http.get(urlOf(server, '/api/stream'), { agent: false }, (res) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 100_000) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on('error', () => {});
  });
  await waitFor(() => upstreamClosedEarly, { message: 'upstream response aborted' });
  await waitFor(() => allIdle(lb), { message: 'in-flight back to 0' });
});

test('the upstream status passes through: a 500 from the upstream is not the balancer’s', async () => {
  const failing = await upstreamOf(
    startUpstream((_req, res) => {
      res.statusCode = 500;
      res.end('upstream says no');
    }),
  );
  const lb = loadBalance({ upstreams: [failing.url], healthCheck: false });
  const server = await serve(lb);
  const reply = await send(urlOf(server, '/api/x'));
  expect(reply.status).toBe(500);
  expect(reply.text).toBe('upstream says no');
  expect(lb.stats()).toMatchObject({ successfulRequests: 1, failedRequests: 0 });
});

test('connectTimeout turns a connect that never completes into a retry on another upstream', async () => {
  const blackhole = await blackholeUpstream();
  opened.push(blackhole);
  const a = await upstreamOf(echoUpstream('a'));
  const lb = loadBalance({
    upstreams: [blackhole.url, a.url],
    healthCheck: false,
    connectTimeout: 1000,
    passiveHealth: false,
    algorithm: 'round-robin',
  });
  const retries: Array<BalancerEvents['retry']> = [];
  lb.on('retry', (e) => retries.push(e));
  const server = await serve(lb);
  for (let i = 0; i < 2; i++) expect((await send(urlOf(server, '/api/x'))).status).toBe(200);
  expect(retries).toHaveLength(1);
  expect(retries[0]!.from).toBe(blackhole.url);
  expect(allIdle(lb)).toBe(true);
});

test('close() destroys the keep-alive agents: the upstream sees its connections closed', async () => {
  const a = await upstreamOf(echoUpstream('a'));
  const lb = loadBalance({ upstreams: [a.url], healthCheck: false });
  const server = await listen(http.createServer(express().use('/api', lb)));
  opened.push({ close: () => closeServer(server) });
  for (let i = 0; i < 3; i++) expect((await send(urlOf(server, '/api/x'))).status).toBe(200);
  const connections = () =>
    new Promise<number>((resolve) => a.server.getConnections((_e, n) => resolve(n)));
  expect(await connections()).toBeGreaterThan(0); // kept alive between requests
  await lb.close();
  let open = await connections();
  const deadline = Date.now() + 5000;
  while (open > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    open = await connections();
  }
  expect(open).toBe(0);
});
