// Sticky sessions through a real Express app: the cookie pins a client to its upstream, bad
// cookies are treated as absent, the upstream never sees the balancer's cookie, and its own
// Set-Cookie headers survive.

import http, { type Server } from 'node:http';
import express from 'express';
import { loadBalance, MemorySessionStore, type LoadBalancer, type StickyOptions } from '../../src';
import { echoUpstream, type Echo } from '../helpers/echo';
import { closeServer, listen, send, urlOf, type Reply } from '../helpers/client';
import type { TestUpstream } from '../helpers/upstreams';

let upstreams: TestUpstream[];
const opened: Array<() => Promise<void>> = [];

beforeAll(async () => {
  upstreams = await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      echoUpstream(name, (_req, res) => res.setHeader('set-cookie', [`app_${name}=1; Path=/`])),
    ),
  );
});

afterAll(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
});

afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function serve(sticky: StickyOptions | true): Promise<{ lb: LoadBalancer; server: Server }> {
  const lb = loadBalance({ upstreams: upstreams.map((u) => u.url), sticky, healthCheck: false });
  const server = await listen(http.createServer(express().use('/api', lb)));
  opened.push(
    () => lb.close(),
    () => closeServer(server),
  );
  return { lb, server };
}

function balancerCookie(reply: Reply, name = 'lb'): string | undefined {
  const header = (reply.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${name}=`));
  return header;
}

function cookiePair(setCookie: string): string {
  return setCookie.split(';')[0]!;
}

const modes: Array<[string, StickyOptions]> = [
  ['cookie mode', {}],
  ['cookie mode, signed', { secret: 's3cret' }],
  ['store mode', { store: new MemorySessionStore() }],
];

describe.each(modes)('%s', (_name, base) => {
  afterAll(async () => {
    await base.store?.close?.();
  });

  test('a new client gets a cookie and then stays on its upstream', async () => {
    const { server } = await serve({ ...base, ttl: 60_000 });
    const first = await send(urlOf(server, '/api/x'));
    const setCookie = balancerCookie(first);
    expect(setCookie).toBeDefined();
    expect(setCookie).toMatch(/; Max-Age=60; Path=\/; HttpOnly; SameSite=Lax$/);
    const home = first.json<Echo>().name;
    for (let i = 0; i < 12; i++) {
      const reply = await send(urlOf(server, '/api/x'), {
        headers: { cookie: cookiePair(setCookie!) },
      });
      expect(reply.json<Echo>().name).toBe(home);
    }
  });

  test('clients without a cookie are still balanced', async () => {
    const { server } = await serve(base);
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) names.add((await send(urlOf(server, '/api/x'))).json<Echo>().name);
    expect(names.size).toBe(3);
  });

  test("the value never reveals an upstream's address", async () => {
    const { server } = await serve(base);
    const value = cookiePair(balancerCookie(await send(urlOf(server, '/api/x')))!).slice(3);
    for (const u of upstreams) {
      const { port } = new URL(u.url);
      expect(value).not.toContain(port);
      expect(decodeURIComponent(value)).not.toContain('127.0.0.1');
      expect(Buffer.from(value, 'base64url').toString('latin1')).not.toContain('127.0.0.1');
    }
  });

  test("the balancer's cookie is not forwarded; other cookies and the upstream's Set-Cookie are kept", async () => {
    const { server } = await serve(base);
    const first = await send(urlOf(server, '/api/x'));
    const pair = cookiePair(balancerCookie(first)!);
    const reply = await send(urlOf(server, '/api/x'), {
      headers: { cookie: `theme=dark; ${pair}; sid=abc` },
    });
    const echo = reply.json<Echo>();
    expect(echo.headers.cookie).toBe('theme=dark; sid=abc');
    expect(reply.headers['set-cookie']).toContain(`app_${echo.name}=1; Path=/`);
    const only = await send(urlOf(server, '/api/x'), { headers: { cookie: pair } });
    expect(only.json<Echo>().headers.cookie).toBeUndefined();
  });

  test('a pinned upstream that leaves: the client is rebalanced and the cookie replaced', async () => {
    const { server, lb } = await serve(base);
    const first = await send(urlOf(server, '/api/x'));
    const pair = cookiePair(balancerCookie(first)!);
    const home = first.json<Echo>().name;
    const homeUrl = upstreams[['a', 'b', 'c'].indexOf(home)]!.url;
    lb.removeUpstream(homeUrl);
    const moved = await send(urlOf(server, '/api/x'), { headers: { cookie: pair } });
    expect(moved.json<Echo>().name).not.toBe(home);
    const replaced = balancerCookie(moved);
    // Cookie mode must issue a new cookie; store mode may keep its session id and re-map it.
    if (!base.store) expect(replaced).toBeDefined();
    const newHome = moved.json<Echo>().name;
    const next = replaced ? cookiePair(replaced) : pair;
    const again = await send(urlOf(server, '/api/x'), { headers: { cookie: next } });
    expect(again.json<Echo>().name).toBe(newHome);
  });

  test.each([
    ['malformed', 'lb=%%%not-a-cookie'],
    ['empty', 'lb='],
    ['huge', `lb=${'A'.repeat(8000)}`],
    ['unknown', 'lb=AAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['forged', 'lb=deadbeef.deadbeef.deadbeef'],
    ['garbage bytes', 'lb=\u00ff\u00fe; x'],
  ])('a %s cookie is treated as absent, never an error', async (_kind, cookie) => {
    const { server } = await serve(base);
    const reply = await send(urlOf(server, '/api/x'), { headers: { cookie } });
    expect(reply.status).toBe(200);
    expect(balancerCookie(reply)).toBeDefined();
  });
});

test('a cookie signed with another secret, or expired, is treated as absent', async () => {
  const { server: one } = await serve({ secret: 'one', ttl: 60_000 });
  const { server: two } = await serve({ secret: 'two', ttl: 60_000 });
  const pair = cookiePair(balancerCookie(await send(urlOf(one, '/api/x')))!);
  const reply = await send(urlOf(two, '/api/x'), { headers: { cookie: pair } });
  expect(reply.status).toBe(200);
  expect(balancerCookie(reply)).toBeDefined();

  const value = pair.slice(3);
  const [head, , sig] = value.split('.');
  const expired = `lb=${head}.${(Date.now() - 1000).toString(36)}.${sig}`;
  const reply2 = await send(urlOf(one, '/api/x'), { headers: { cookie: expired } });
  expect(reply2.status).toBe(200);
  expect(balancerCookie(reply2)).toBeDefined();
});

test('secret rotation: a cookie signed with the old secret is still honoured, then re-signed', async () => {
  const { server: old } = await serve({ secret: 'old' });
  const first = await send(urlOf(old, '/api/x'));
  const home = first.json<Echo>().name;
  const pair = cookiePair(balancerCookie(first)!);
  const { server: rotated } = await serve({ secret: ['new', 'old'] });
  const reply = await send(urlOf(rotated, '/api/x'), { headers: { cookie: pair } });
  expect(reply.json<Echo>().name).toBe(home);
  const resigned = balancerCookie(reply);
  expect(resigned).toBeDefined();
  expect(cookiePair(resigned!)).not.toBe(pair);
});

test('two balancer instances with the same upstreams agree on a stateless cookie', async () => {
  const { server: one } = await serve({ secret: 'shared' });
  const { server: two } = await serve({ secret: 'shared' });
  const first = await send(urlOf(one, '/api/x'));
  const pair = cookiePair(balancerCookie(first)!);
  for (let i = 0; i < 5; i++) {
    const reply = await send(urlOf(two, '/api/x'), { headers: { cookie: pair } });
    expect(reply.json<Echo>().name).toBe(first.json<Echo>().name);
  }
});

test('cookie attributes: Domain, Secure, SameSite=None, no HttpOnly', async () => {
  const { server } = await serve({
    domain: 'example.com',
    sameSite: 'none',
    httpOnly: false,
    path: '/api',
    cookie: 'route',
  });
  const setCookie = balancerCookie(await send(urlOf(server, '/api/x')), 'route')!;
  expect(setCookie).toContain('Domain=example.com');
  expect(setCookie).toContain('Path=/api');
  expect(setCookie).toContain('Secure');
  expect(setCookie).toContain('SameSite=None');
  expect(setCookie).not.toContain('HttpOnly');
});

test("Secure is set automatically when Express trusts the proxy's X-Forwarded-Proto: https", async () => {
  const lb = loadBalance({
    upstreams: upstreams.map((u) => u.url),
    sticky: true,
    healthCheck: false,
  });
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use('/api', lb);
  const server = await listen(http.createServer(app));
  opened.push(
    () => lb.close(),
    () => closeServer(server),
  );
  const plain = balancerCookie(await send(urlOf(server, '/api/x')))!;
  expect(plain).not.toContain('Secure');
  const tls = balancerCookie(
    await send(urlOf(server, '/api/x'), { headers: { 'x-forwarded-proto': 'https' } }),
  )!;
  expect(tls).toContain('Secure');
});

test('a store that fails is treated as "no session": requests are balanced, storeError fires', async () => {
  const broken = {
    get: () => Promise.reject(new Error('store down')),
    set: () => Promise.reject(new Error('store down')),
    delete: () => undefined,
  };
  const { server, lb } = await serve({ store: broken });
  const errors: Error[] = [];
  lb.on('storeError', ({ error }) => errors.push(error));
  const reply = await send(urlOf(server, '/api/x'), {
    headers: { cookie: 'lb=AAAAAAAAAAAAAAAAAAAAAAAA' },
  });
  expect(reply.status).toBe(200);
  const fresh = await send(urlOf(server, '/api/x'));
  expect(fresh.status).toBe(200);
  expect(errors.length).toBeGreaterThan(0);
  expect(errors[0]!.message).toBe('store down');
});
