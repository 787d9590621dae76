// Prometheus metrics as a scraper sees them: the exposition served by lb.metrics.handler() after
// known traffic through a real Express app to real upstreams (exact counter values), gauges read
// at scrape time, the user's own registry, and several balancers sharing one registry. It owns
// no production code and uses no mocks: prom-client is the real one.

import http, { type Server } from 'node:http';
import express from 'express';
import { Counter, Registry, register as globalRegister } from 'prom-client';
import {
  loadBalance,
  OptionsError,
  type LoadBalancer,
  type Options,
  type Strategy,
} from '../../src';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import {
  freePortThatRefuses,
  hangingUpstream,
  statusUpstream,
  waitFor,
  type TestUpstream,
} from '../helpers/upstreams';

const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});

async function upstream<T extends TestUpstream>(p: Promise<T>): Promise<T> {
  const u = await p;
  opened.push(u);
  return u;
}

function balancer(options: Options): LoadBalancer {
  const lb = loadBalance(options);
  opened.push({ close: () => lb.close() });
  return lb;
}

/** An Express app: the balancer under /api, its exposition at /metrics. */
async function serve(lb: LoadBalancer): Promise<Server> {
  const app = express();
  app.get('/metrics', lb.metrics!.handler());
  app.use('/api', lb);
  const server = await listen(http.createServer(app));
  opened.push({ close: () => closeServer(server) });
  return server;
}

/**
 * A user strategy that routes by the `x-to` header: `a>b` picks a, and b when a is no
 * candidate (already tried); no routable name → no pick (503 first, 502 on a retry).
 */
const routeByHeader: Strategy = {
  name: 'route-by-header',
  pick(candidates, ctx) {
    for (const id of (ctx.key ?? '').split('>')) {
      const found = candidates.find((c) => c.id === id);
      if (found) return found;
    }
    return undefined;
  },
};

type Samples = Map<string, number>;

function sampleKey(name: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `${name}{${pairs.join(',')}}`;
}

/** The samples of a text exposition, keyed by name and sorted labels. */
function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k!] = JSON.parse(`"${v!}"`) as string;
    }
    samples.set(sampleKey(match[1]!, labels), Number(match[3]));
  }
  return samples;
}

const value = (samples: Samples, name: string, labels: Record<string, string> = {}) =>
  samples.get(sampleKey(name, labels));

/** Sample keys of one metric (any labels). */
const seriesOf = (samples: Samples, name: string) =>
  [...samples.keys()].filter((k) => k.startsWith(`${name}{`)).sort();

async function scrape(server: Server): Promise<Samples> {
  const reply = await send(urlOf(server, '/metrics'));
  expect(reply.status).toBe(200);
  return parseExposition(reply.text);
}

test('after known traffic the exposition has exact counters, the histogram count and idle gauges', async () => {
  const ok = await upstream(statusUpstream(200));
  const bad = await upstream(statusUpstream(500));
  const hang = await upstream(hangingUpstream());
  const dead = await freePortThatRefuses();
  const lb = balancer({
    upstreams: [
      { id: 'ok', url: ok.url },
      { id: 'bad', url: bad.url },
      { id: 'dead', url: dead },
      { id: 'hang', url: hang.url },
    ],
    algorithm: routeByHeader,
    hashKey: 'header:x-to',
    healthCheck: false,
    passiveHealth: false,
    timeout: 1000,
    metrics: true,
  });
  const server = await serve(lb);

  const script: Array<[to: string, status: number]> = [
    ['ok', 200],
    ['ok', 200],
    ['bad', 500],
    ['bad', 500],
    ['dead>ok', 200], // refused, retried on ok
    ['dead>ok', 200],
    ['dead', 502], // refused, nothing left to retry on
    ['hang', 504], // no headers within `timeout`
    ['none', 503], // nothing to pick
  ];
  for (const [to, status] of script) {
    const reply = await send(urlOf(server, '/api/x'), { headers: { 'x-to': to } });
    expect([to, reply.status]).toEqual([to, status]);
  }

  const reply = await send(urlOf(server, '/metrics'));
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe(lb.metrics!.contentType);
  expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  for (const [name, type] of [
    ['lb_upstream_requests_total', 'counter'],
    ['lb_upstream_header_time_seconds', 'histogram'],
    ['lb_upstream_requests_in_flight', 'gauge'],
    ['lb_upstream_health', 'gauge'],
    ['lb_upstream_ejected', 'gauge'],
    ['lb_upstream_ejections_total', 'counter'],
    ['lb_upstream_retries_total', 'counter'],
    ['lb_balancer_responses_total', 'counter'],
  ]) {
    expect(reply.text).toContain(`# TYPE ${name} ${type}\n`);
  }

  const m = parseExposition(reply.text);
  const requests = 'lb_upstream_requests_total';
  expect(seriesOf(m, requests)).toEqual(
    [
      sampleKey(requests, { upstream: 'ok', status_class: '2xx' }),
      sampleKey(requests, { upstream: 'bad', status_class: '5xx' }),
      sampleKey(requests, { upstream: 'dead', status_class: 'error' }),
      sampleKey(requests, { upstream: 'hang', status_class: 'error' }),
    ].sort(),
  );
  expect(value(m, requests, { upstream: 'ok', status_class: '2xx' })).toBe(4);
  expect(value(m, requests, { upstream: 'bad', status_class: '5xx' })).toBe(2);
  expect(value(m, requests, { upstream: 'dead', status_class: 'error' })).toBe(3);
  expect(value(m, requests, { upstream: 'hang', status_class: 'error' })).toBe(1);
  // the counters agree with stats(): every attempt is counted once, in one class
  for (const u of lb.stats().upstreams) {
    const counted = seriesOf(m, requests)
      .filter((k) => k.includes(`upstream="${u.id}"`))
      .reduce((sum, k) => sum + m.get(k)!, 0);
    expect([u.id, counted]).toEqual([u.id, u.totalRequests]);
  }

  // the histogram: one observation per upstream response, none for failures
  const time = 'lb_upstream_header_time_seconds';
  expect(value(m, `${time}_count`, { upstream: 'ok' })).toBe(4);
  expect(value(m, `${time}_count`, { upstream: 'bad' })).toBe(2);
  expect(value(m, `${time}_count`, { upstream: 'dead' })).toBeUndefined();
  expect(value(m, `${time}_count`, { upstream: 'hang' })).toBeUndefined();
  expect(value(m, `${time}_bucket`, { upstream: 'ok', le: '+Inf' })).toBe(4);
  expect(value(m, `${time}_bucket`, { upstream: 'ok', le: '30' })).toBe(4);
  expect(value(m, `${time}_sum`, { upstream: 'ok' })).toBeGreaterThan(0);
  expect(value(m, `${time}_sum`, { upstream: 'ok' })).toBeLessThan(4);

  // gauges, computed at scrape time
  for (const id of ['ok', 'bad', 'dead', 'hang']) {
    expect(value(m, 'lb_upstream_requests_in_flight', { upstream: id })).toBe(0);
    expect(value(m, 'lb_upstream_ejected', { upstream: id })).toBe(0);
    expect(value(m, 'lb_upstream_health', { upstream: id, state: 'unknown' })).toBe(1);
    expect(value(m, 'lb_upstream_health', { upstream: id, state: 'healthy' })).toBe(0);
    expect(value(m, 'lb_upstream_health', { upstream: id, state: 'unhealthy' })).toBe(0);
  }

  expect(seriesOf(m, 'lb_upstream_retries_total')).toEqual([
    sampleKey('lb_upstream_retries_total', { upstream: 'dead' }),
  ]);
  expect(value(m, 'lb_upstream_retries_total', { upstream: 'dead' })).toBe(2);
  expect(seriesOf(m, 'lb_upstream_ejections_total')).toEqual([]);
  expect(value(m, 'lb_balancer_responses_total', { status: '502' })).toBe(1);
  expect(value(m, 'lb_balancer_responses_total', { status: '503' })).toBe(1);
  expect(value(m, 'lb_balancer_responses_total', { status: '504' })).toBe(1);
});

test('a held request is in flight; when the client aborts it counts as status_class="aborted"', async () => {
  const hang = await upstream(hangingUpstream());
  const lb = balancer({
    upstreams: [{ id: 'hang', url: hang.url }],
    healthCheck: false,
    metrics: true,
  });
  const server = await serve(lb);
  const req = http.get(urlOf(server, '/api/x'), { agent: false });
  req.on('error', () => {});
  await waitFor(() => hang.requests === 1, { message: 'request reached the upstream' });
  // held by the upstream: in flight, and the gauge says so at scrape time
  const held = await scrape(server);
  expect(value(held, 'lb_upstream_requests_in_flight', { upstream: 'hang' })).toBe(1);
  expect(seriesOf(held, 'lb_upstream_requests_total')).toEqual([]);
  req.destroy();
  await waitFor(() => lb.stats().upstreams[0]!.activeConnections === 0, {
    message: 'attempt ended',
  });
  const m = await scrape(server);
  expect(seriesOf(m, 'lb_upstream_requests_total')).toEqual([
    sampleKey('lb_upstream_requests_total', { upstream: 'hang', status_class: 'aborted' }),
  ]);
  expect(
    value(m, 'lb_upstream_requests_total', { upstream: 'hang', status_class: 'aborted' }),
  ).toBe(1);
  expect(value(m, 'lb_balancer_responses_total', { status: '502' })).toBe(0);
});

test('the health gauge shows each upstream’s state after checkHealth()', async () => {
  const ok = await upstream(statusUpstream(200));
  const dead = await freePortThatRefuses();
  const lb = balancer({
    upstreams: [
      { id: 'ok', url: ok.url },
      { id: 'dead', url: dead },
    ],
    healthCheck: { path: '/health', interval: 60_000, failureThreshold: 1, successThreshold: 1 },
    metrics: true,
  });
  await lb.checkHealth();
  const m = parseExposition(await lb.metrics!.registry.metrics());
  const health = (upstream: string, state: string) =>
    value(m, 'lb_upstream_health', { upstream, state });
  expect([health('ok', 'healthy'), health('ok', 'unhealthy'), health('ok', 'unknown')]).toEqual([
    1, 0, 0,
  ]);
  expect([
    health('dead', 'healthy'),
    health('dead', 'unhealthy'),
    health('dead', 'unknown'),
  ]).toEqual([0, 1, 0]);
});

test('ejections and retries are counted per upstream, and the ejected gauge follows', async () => {
  const ok = await upstream(statusUpstream(200));
  const dead = await freePortThatRefuses();
  const lb = balancer({
    upstreams: [
      { id: 'ok', url: ok.url },
      { id: 'dead', url: dead },
    ],
    algorithm: routeByHeader,
    hashKey: 'header:x-to',
    healthCheck: false,
    passiveHealth: { failures: 1, ejectFor: 60_000 },
    metrics: true,
  });
  const ejected: string[] = [];
  lb.on('eject', (e) => ejected.push(e.upstream));
  const server = await serve(lb);
  expect((await send(urlOf(server, '/api/x'), { headers: { 'x-to': 'dead>ok' } })).status).toBe(
    200,
  );
  expect(ejected).toEqual(['dead']);
  const m = await scrape(server);
  expect(value(m, 'lb_upstream_ejections_total', { upstream: 'dead' })).toBe(1);
  expect(value(m, 'lb_upstream_retries_total', { upstream: 'dead' })).toBe(1);
  expect(value(m, 'lb_upstream_ejected', { upstream: 'dead' })).toBe(1);
  expect(value(m, 'lb_upstream_ejected', { upstream: 'ok' })).toBe(0);
  // ejected: the next request naming dead first goes straight to ok
  expect((await send(urlOf(server, '/api/x'), { headers: { 'x-to': 'dead>ok' } })).status).toBe(
    200,
  );
  const after = await scrape(server);
  expect(
    value(after, 'lb_upstream_requests_total', { upstream: 'dead', status_class: 'error' }),
  ).toBe(1);
  expect(value(after, 'lb_upstream_requests_total', { upstream: 'ok', status_class: '2xx' })).toBe(
    2,
  );
});

test('metrics: { registry, prefix } registers into the user’s registry next to the app’s own metrics', async () => {
  const ok = await upstream(statusUpstream(200));
  const registry = new Registry();
  const logins = new Counter({ name: 'app_logins_total', help: 'Logins.', registers: [registry] });
  logins.inc(3);
  const lb = balancer({
    upstreams: [{ id: 'ok', url: ok.url }],
    healthCheck: false,
    metrics: { registry, prefix: 'gateway_' },
  });
  expect(lb.metrics!.registry).toBe(registry);
  expect(lb.metrics!.contentType).toBe(registry.contentType);
  const server = await serve(lb);
  await send(urlOf(server, '/api/x'));
  const m = await scrape(server);
  expect(value(m, 'app_logins_total')).toBe(3);
  expect(value(m, 'gateway_upstream_requests_total', { upstream: 'ok', status_class: '2xx' })).toBe(
    1,
  );
  expect(seriesOf(m, 'lb_upstream_requests_total')).toEqual([]);
  // the exposition is the user's registry, so their own handler serves the same thing
  expect(parseExposition(await registry.metrics())).toEqual(m);
  // prom-client's global registry is left alone
  expect(globalRegister.getSingleMetric('gateway_upstream_requests_total')).toBeUndefined();
  // only GET and HEAD: anything else goes on to the app (here: Express's 404)
  expect((await send(urlOf(server, '/metrics'), { method: 'POST' })).status).toBe(404);
  const head = await send(urlOf(server, '/metrics'), { method: 'HEAD' });
  expect([head.status, head.text]).toEqual([200, '']);
});

test('two balancers on one registry share its collectors: series per upstream, one metric family each', async () => {
  const [u1, u2, o1] = await Promise.all([
    upstream(statusUpstream(200)),
    upstream(statusUpstream(200)),
    upstream(statusUpstream(503)),
  ]);
  const registry = new Registry();
  const users = balancer({
    upstreams: [
      { id: 'users-1', url: u1.url },
      { id: 'users-2', url: u2.url },
    ],
    healthCheck: false,
    metrics: { registry },
  });
  const orders = balancer({
    upstreams: [{ id: 'orders-1', url: o1.url }],
    healthCheck: false,
    metrics: { registry },
  });
  expect(users.metrics!.registry).toBe(registry);
  expect(orders.metrics!.registry).toBe(registry);
  const app = express();
  app.use('/users', users);
  app.use('/orders', orders);
  app.get('/metrics', users.metrics!.handler());
  const server = await listen(http.createServer(app));
  opened.push({ close: () => closeServer(server) });
  for (let i = 0; i < 4; i++) await send(urlOf(server, '/users/x'));
  for (let i = 0; i < 3; i++) await send(urlOf(server, '/orders/x'));

  const text = (await send(urlOf(server, '/metrics'))).text;
  expect(text.match(/^# TYPE lb_upstream_requests_total counter$/gm)).toHaveLength(1);
  const m = parseExposition(text);
  const requests = (upstream: string, status_class: string) =>
    value(m, 'lb_upstream_requests_total', { upstream, status_class });
  expect([requests('users-1', '2xx'), requests('users-2', '2xx')]).toEqual([2, 2]);
  expect(requests('orders-1', '5xx')).toBe(3);
  expect(seriesOf(m, 'lb_upstream_requests_in_flight')).toEqual(
    ['orders-1', 'users-1', 'users-2'].map((upstream) =>
      sampleKey('lb_upstream_requests_in_flight', { upstream }),
    ),
  );

  // a closed balancer's gauges leave the registry; its counters stay
  await orders.close();
  const after = parseExposition(await registry.metrics());
  expect(seriesOf(after, 'lb_upstream_requests_in_flight')).toEqual(
    ['users-1', 'users-2'].map((upstream) =>
      sampleKey('lb_upstream_requests_in_flight', { upstream }),
    ),
  );
  expect(
    value(after, 'lb_upstream_requests_total', { upstream: 'orders-1', status_class: '5xx' }),
  ).toBe(3);

  // a third balancer with its own prefix gets its own families in the same registry
  const third = balancer({
    upstreams: [{ id: 'users-1', url: u1.url }],
    healthCheck: false,
    metrics: { registry, prefix: 'search_' },
  });
  const both = parseExposition(await third.metrics!.registry.metrics());
  expect(seriesOf(both, 'search_upstream_requests_in_flight')).toEqual([
    sampleKey('search_upstream_requests_in_flight', { upstream: 'users-1' }),
  ]);
});

test('metrics: true gives each balancer a fresh registry; without metrics there is none', async () => {
  const ok = await upstream(statusUpstream(200));
  const a = balancer({ upstreams: [ok.url], healthCheck: false, metrics: true });
  const b = balancer({ upstreams: [ok.url], healthCheck: false, metrics: true });
  expect(a.metrics!.registry).toBeInstanceOf(Registry);
  expect(a.metrics!.registry).not.toBe(b.metrics!.registry);
  expect(a.metrics!.registry).not.toBe(globalRegister);
  expect(balancer({ upstreams: [ok.url], healthCheck: false }).metrics).toBeUndefined();
  expect(balancer({ upstreams: [ok.url], healthCheck: false }).balancer.metrics).toBeUndefined();
});

test('a registry that already has one of the names, or is no registry, is an options error', () => {
  const registry = new Registry();
  new Counter({ name: 'lb_upstream_retries_total', help: 'Not ours.', registers: [registry] });
  const attempt = (metrics: Options['metrics']) => () =>
    balancer({ upstreams: ['http://127.0.0.1:9'], healthCheck: false, metrics });
  expect(attempt({ registry })).toThrow(OptionsError);
  expect(attempt({ registry })).toThrow(
    /ERR_LB_BAD_METRICS: .*lb_upstream_retries_total.*metrics\.prefix/,
  );
  expect(attempt({ registry, prefix: 'other_' })).not.toThrow();
  expect(attempt({ registry: {} })).toThrow(
    /ERR_LB_BAD_METRICS: metrics\.registry must be a prom-client Registry/,
  );
  try {
    attempt({ registry: {} })();
  } catch (error) {
    expect((error as OptionsError).option).toBe('metrics.registry');
  }
});
