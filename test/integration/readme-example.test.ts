// The README's example, built for real: two pools under two prefixes in one Express app beside
// ordinary routes — in Express 5 and in Express 4. Each pool balances; the ordinary routes answer.

import http, { type Server } from 'node:http';
import express5 from 'express';
import express4 from 'express4';
import { loadBalance, type LoadBalancer } from '../../src';
import { echoUpstream, type Echo } from '../helpers/echo';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import type { TestUpstream } from '../helpers/upstreams';

type ExpressFactory = () => express5.Express;
type JsonParser = () => express5.RequestHandler;
const frameworks: Array<[string, ExpressFactory, JsonParser]> = [
  ['Express 5', () => express5(), () => express5.json()],
  ['Express 4', () => express4(), () => express4.json()],
];

let users: TestUpstream[];
let orders: TestUpstream[];
beforeAll(async () => {
  users = await Promise.all(['users-1', 'users-2'].map((n) => echoUpstream(n)));
  orders = await Promise.all(['orders-1', 'orders-2', 'orders-3'].map((n) => echoUpstream(n)));
});
afterAll(async () => {
  await Promise.all([...users, ...orders].map((u) => u.close()));
});

describe.each(frameworks)('%s', (_name, makeApp, json) => {
  let server: Server;
  let usersLb: LoadBalancer;
  let ordersLb: LoadBalancer;

  beforeAll(async () => {
    usersLb = loadBalance({
      upstreams: users.map((u) => u.url),
      algorithm: 'least-connections',
      sticky: true,
    });
    ordersLb = loadBalance({
      upstreams: orders.map((u, i) => ({ url: u.url, id: `orders-${i + 1}`, weight: i + 1 })),
      algorithm: 'weighted-round-robin',
      healthCheck: { path: '/health', interval: 5_000 },
    });
    const app = makeApp();
    app.get('/', (_req, res) => {
      res.send('home');
    });
    app.use('/api/users', usersLb);
    app.use('/api/orders', ordersLb);
    app.use('/api/json', json(), usersLb);
    app.get('/about', (_req, res) => {
      res.json({ ok: true });
    });
    server = await listen(http.createServer(app));
  });

  afterAll(async () => {
    await Promise.all([usersLb.close(), ordersLb.close()]);
    await closeServer(server);
  });

  test('ordinary routes still answer', async () => {
    expect((await send(urlOf(server, '/'))).text).toBe('home');
    expect((await send(urlOf(server, '/about'))).json()).toEqual({ ok: true });
    expect((await send(urlOf(server, '/nothing-here'))).status).toBe(404);
  });

  test('the users pool balances and strips its prefix', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const echo = (await send(urlOf(server, '/api/users/42?full=1'))).json<Echo>();
      expect(echo.url).toBe('/42?full=1');
      names.add(echo.name);
    }
    expect(names).toEqual(new Set(['users-1', 'users-2']));
  });

  test('the orders pool follows its weights (1:2:3)', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const echo = (await send(urlOf(server, '/api/orders'))).json<Echo>();
      expect(echo.url).toBe('/');
      counts[echo.name] = (counts[echo.name] ?? 0) + 1;
    }
    expect(counts).toEqual({ 'orders-1': 10, 'orders-2': 20, 'orders-3': 30 });
  });

  test("a body parsed by the framework's express.json() is re-sent intact", async () => {
    const reply = await send(urlOf(server, '/api/json/orders'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'book', qty: 2 }),
    });
    const echo = reply.json<Echo>();
    expect(JSON.parse(echo.body)).toEqual({ item: 'book', qty: 2 });
    expect(Number(echo.headers['content-length'])).toBe(Buffer.byteLength(echo.body));
  });

  test('each pool keeps its own stats', () => {
    expect(usersLb.stats().upstreams).toHaveLength(2);
    expect(ordersLb.stats().upstreams).toHaveLength(3);
    expect(ordersLb.stats().totalRequests).toBeGreaterThanOrEqual(60);
  });
});

test('a user Strategy: the canary example routes by header through ctx.key', async () => {
  const pool = await Promise.all(['stable-1', 'stable-2', 'canary-1'].map((n) => echoUpstream(n)));
  const isCanary = (id: string) => id.startsWith('canary');
  let turn = 0;
  const lb = loadBalance({
    upstreams: pool.map((u, i) => ({ url: u.url, id: ['stable-1', 'stable-2', 'canary-1'][i]! })),
    hashKey: 'header:x-canary',
    algorithm: {
      name: 'canary',
      pick(candidates, ctx) {
        const preferred = candidates.filter((u) => isCanary(u.id) === (ctx.key === '1'));
        const list = preferred.length > 0 ? preferred : candidates;
        return list[turn++ % list.length];
      },
    },
    healthCheck: false,
  });
  const server = await listen(http.createServer(express5().use('/api', lb)));
  try {
    const names: string[] = [];
    for (let i = 0; i < 4; i++) names.push((await send(urlOf(server, '/api'))).json<Echo>().name);
    expect(new Set(names)).toEqual(new Set(['stable-1', 'stable-2']));
    const canary = await send(urlOf(server, '/api'), { headers: { 'x-canary': '1' } });
    expect(canary.json<Echo>().name).toBe('canary-1');
    lb.removeUpstream('canary-1');
    const fallback = await send(urlOf(server, '/api'), { headers: { 'x-canary': '1' } });
    expect(fallback.json<Echo>().name).toMatch(/^stable-/);
  } finally {
    await lb.close();
    await closeServer(server);
    await Promise.all(pool.map((u) => u.close()));
  }
});
