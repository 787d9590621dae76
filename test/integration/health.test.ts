// Health as users of loadBalance() see it: probes take upstreams out and bring them back, passive
// ejection reacts to real traffic, removal drains, and every timer stops with the app.

import http, { type Server } from 'node:http';
import express from 'express';
import { loadBalance, type BalancerEvents, type LoadBalancer } from '../../src';
import { ManualClock } from '../../src/clock';
import { echoUpstream, type Echo } from '../helpers/echo';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import {
  freePortThatRefuses,
  sleep,
  startUpstream,
  statusUpstream,
  waitFor,
} from '../helpers/upstreams';

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function track<T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> {
  const value = await p;
  opened.push(() => value.close());
  return value;
}

async function serve(lb: LoadBalancer): Promise<Server> {
  const server = await listen(http.createServer(express().use('/api', lb)));
  opened.push(
    () => lb.close(),
    () => closeServer(server),
  );
  return server;
}

const healthOf = (lb: LoadBalancer, id: string) => lb.stats().upstreams.find((u) => u.id === id)!;

test('failing probes take an upstream out; passing ones bring it back', async () => {
  const a = await track(statusUpstream(200));
  const b = await track(echoUpstream('b'));
  const lb = loadBalance({
    upstreams: [
      { url: a.url, id: 'a' },
      { url: b.url, id: 'b' },
    ],
    healthCheck: {
      path: '/health',
      interval: 50,
      timeout: 500,
      failureThreshold: 2,
      successThreshold: 2,
    },
  });
  const events: Array<BalancerEvents['health']> = [];
  lb.on('health', (e) => events.push(e));
  const server = await serve(lb);
  await waitFor(() => lb.stats().upstreams.every((u) => u.health === 'healthy'), {
    message: 'both healthy',
  });

  a.status = 503;
  await waitFor(() => healthOf(lb, 'a').health === 'unhealthy', { message: 'a unhealthy' });
  expect(events.find((e) => e.upstream === 'a' && e.to === 'unhealthy')).toEqual({
    upstream: 'a',
    from: 'healthy',
    to: 'unhealthy',
    reason: 'http 503',
  });
  for (let i = 0; i < 6; i++) {
    const reply = await send(urlOf(server, '/api/x'));
    expect(reply.json<Echo>().name).toBe('b');
  }

  a.status = 200;
  await waitFor(() => healthOf(lb, 'a').health === 'healthy', { message: 'a healthy again' });
  const names = new Set<string>();
  for (let i = 0; i < 6; i++) names.add((await send(urlOf(server, '/api/x'))).text);
  expect(names.has('200')).toBe(true);
});

test('503 once probes have taken every upstream out', async () => {
  const a = await track(statusUpstream(503));
  const lb = loadBalance({
    upstreams: [a.url],
    healthCheck: { path: '/health', interval: 50, failureThreshold: 1 },
  });
  const server = await serve(lb);
  await waitFor(() => lb.stats().upstreams[0]!.health === 'unhealthy', { message: 'unhealthy' });
  const reply = await send(urlOf(server, '/api/x'));
  expect(reply.status).toBe(503);
  expect(a.requests).toBeGreaterThan(0);
  const probesBefore = a.requests;
  await send(urlOf(server, '/api/x'));
  expect(a.requests - probesBefore).toBeLessThanOrEqual(1); // at most a probe, never the request
});

test('checkHealth() runs one round now and resolves when it is done', async () => {
  const a = await track(statusUpstream(200));
  const dead = await freePortThatRefuses();
  const lb = loadBalance({
    upstreams: [a.url, dead],
    healthCheck: { path: '/', interval: 60_000, failureThreshold: 1 },
  });
  opened.push(() => lb.close());
  await lb.checkHealth();
  expect(lb.stats().upstreams.map((u) => u.health)).toEqual(['healthy', 'unhealthy']);
});

test('TCP probes are the default', async () => {
  const a = await track(startUpstream());
  const dead = await freePortThatRefuses();
  const lb = loadBalance({
    upstreams: [a.url, dead],
    healthCheck: { failureThreshold: 1, interval: 60_000 },
  });
  opened.push(() => lb.close());
  const events: Array<BalancerEvents['health']> = [];
  lb.on('health', (e) => events.push(e));
  await lb.checkHealth();
  expect(lb.stats().upstreams.map((u) => u.health)).toEqual(['healthy', 'unhealthy']);
  expect(a.requests).toBe(0); // a TCP probe sends no HTTP request
  expect(events.find((e) => e.to === 'unhealthy')?.reason).toBe('ECONNREFUSED');
});

test('passive ejection: consecutive connect failures eject; the upstream returns after ejectFor', async () => {
  const dead = await freePortThatRefuses();
  const a = await track(echoUpstream('a'));
  const b = await track(echoUpstream('b'));
  // A hand-moved clock: the ejection lasts exactly as long as the test says, however slow the
  // machine is (the requests themselves run for real).
  const clock = new ManualClock(1_000);
  const lb = loadBalance(
    {
      upstreams: [dead, a.url, b.url],
      healthCheck: false,
      passiveHealth: { failures: 2, ejectFor: 300 },
      algorithm: 'round-robin',
    },
    { clock },
  );
  const ejections: Array<BalancerEvents['eject']> = [];
  lb.on('eject', (e) => ejections.push(e));
  const server = await serve(lb);
  for (let i = 0; i < 12 && ejections.length === 0; i++)
    expect((await send(urlOf(server, '/api/x'))).status).toBe(200);
  expect(ejections).toHaveLength(1);
  expect(ejections[0]).toMatchObject({ upstream: dead, ms: 300 });
  expect(healthOf(lb, dead).ejected).toBe(true);
  expect(healthOf(lb, dead).health).toBe('unknown'); // ejection is apart from the probed state
  const failedBefore = healthOf(lb, dead).failedRequests;
  for (let i = 0; i < 6; i++) await send(urlOf(server, '/api/x'));
  expect(healthOf(lb, dead).failedRequests).toBe(failedBefore); // no traffic while ejected
  clock.advance(299);
  expect(healthOf(lb, dead).ejected).toBe(true);
  clock.advance(1);
  expect(healthOf(lb, dead).ejected).toBe(false);
  for (let i = 0; i < 6; i++) expect((await send(urlOf(server, '/api/x'))).status).toBe(200);
  expect(healthOf(lb, dead).failedRequests).toBeGreaterThan(failedBefore); // tried again
});

test('passive ejection is capped at maxEjectedPercent, but one may always be ejected', async () => {
  const deads = await Promise.all([1, 2, 3, 4].map(() => freePortThatRefuses()));
  const lb = loadBalance({
    upstreams: deads,
    healthCheck: false,
    retries: 0,
    passiveHealth: { failures: 1, ejectFor: 60_000, maxEjectedPercent: 50 },
  });
  const server = await serve(lb);
  for (let i = 0; i < 12; i++) await send(urlOf(server, '/api/x'));
  expect(lb.stats().upstreams.filter((u) => u.ejected)).toHaveLength(2);

  const lone = await freePortThatRefuses();
  const single = loadBalance({
    upstreams: [lone],
    healthCheck: false,
    retries: 0,
    passiveHealth: { failures: 1, ejectFor: 60_000, maxEjectedPercent: 0 },
  });
  const server2 = await serve(single);
  expect((await send(urlOf(server2, '/api/x'))).status).toBe(502);
  expect(single.stats().upstreams[0]!.ejected).toBe(true);
  expect((await send(urlOf(server2, '/api/x'))).status).toBe(503); // everything out: 503
});

test('5xx answers eject only with on5xx', async () => {
  const failing = await track(statusUpstream(500));
  const ok = await track(echoUpstream('ok'));
  for (const on5xx of [false, true]) {
    const lb = loadBalance({
      upstreams: [failing.url, ok.url],
      healthCheck: false,
      passiveHealth: { failures: 2, ejectFor: 60_000, on5xx },
    });
    const server = await serve(lb);
    for (let i = 0; i < 8; i++) await send(urlOf(server, '/api/x'));
    expect(healthOf(lb, failing.url).ejected).toBe(on5xx);
  }
});

test('removeUpstream drains: in-flight requests finish, no new ones arrive, probes stop', async () => {
  let release: (() => void) | undefined;
  const slow = await track(
    startUpstream((req, res) => {
      if (req.url === '/health') return void res.end('ok');
      release = () => res.end('slow done');
    }),
  );
  const other = await track(echoUpstream('other'));
  const lb = loadBalance({
    upstreams: [
      { url: slow.url, id: 'slow' },
      { url: other.url, id: 'other' },
    ],
    healthCheck: { path: '/health', interval: 30 },
    algorithm: 'round-robin',
  });
  const server = await serve(lb);
  await waitFor(() => lb.stats().upstreams.every((u) => u.health === 'healthy'), {
    message: 'healthy',
  });
  // Send requests until one is held by the slow upstream.
  const pending: Array<Promise<{ status: number; text: string }>> = [];
  while (!release) {
    pending.push(send(urlOf(server, '/api/x')));
    await sleep(20);
  }
  expect(healthOf(lb, 'slow').activeConnections).toBe(1);
  expect(lb.removeUpstream('slow')).toBe(true);
  expect(lb.removeUpstream('slow')).toBe(false);
  expect(lb.stats().upstreams.map((u) => u.id)).toEqual(['other']);
  for (let i = 0; i < 5; i++)
    expect((await send(urlOf(server, '/api/y'))).json<Echo>().name).toBe('other');
  const requestsAtRemoval = slow.requests;
  await sleep(200); // several probe intervals
  expect(slow.requests).toBe(requestsAtRemoval);
  release();
  const replies = await Promise.all(pending);
  expect(replies.some((r) => r.status === 200 && r.text === 'slow done')).toBe(true);
  expect(replies.every((r) => r.status === 200)).toBe(true);
});

test('addUpstream: the new upstream is probed at once and receives traffic', async () => {
  const a = await track(echoUpstream('a'));
  const b = await track(echoUpstream('b'));
  const lb = loadBalance({ upstreams: [a.url], healthCheck: { path: '/', interval: 60_000 } });
  const server = await serve(lb);
  const view = lb.addUpstream({ url: b.url, id: 'b', weight: 2 });
  expect(view).toMatchObject({ id: 'b', weight: 2, health: 'unknown' });
  expect(() => lb.addUpstream({ url: b.url, id: 'b' })).toThrow(/already in the pool/);
  await waitFor(() => healthOf(lb, 'b').health === 'healthy', { message: 'b probed' });
  const names = new Set<string>();
  for (let i = 0; i < 4; i++) names.add((await send(urlOf(server, '/api/x'))).json<Echo>().name);
  expect(names).toEqual(new Set(['a', 'b']));
});
