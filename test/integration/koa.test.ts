// Koa, as a user of koaLoadBalance() sees it: a real Koa app with the balancer under koa-mount
// prefixes and at the root, real upstreams. Paths lose the mount prefix, bodies a Koa parser read
// are re-sent intact, the balancer answers failures itself unless onError rethrows into Koa, and
// middleware around it sees the request finish.

import { randomBytes } from 'node:crypto';
import http, { type Server } from 'node:http';
import Koa from 'koa';
import mount from 'koa-mount';
import WebSocket, { WebSocketServer } from 'ws';
import { koaLoadBalance, type KoaLoadBalancer } from 'loadbalance-middleware/koa';
import type { LoadBalancerError, Strategy } from '../../src';
import { echoUpstream, sha256, type Echo } from '../helpers/echo';
import { closeServer, listen, send, urlOf, type SendOptions } from '../helpers/client';
import { freePortThatRefuses, type TestUpstream } from '../helpers/upstreams';

// @koa/bodyparser's type declarations augment node:http's IncomingMessage with `rawBody: string`
// for the whole program, which breaks other tests that keep a Buffer there: load it untyped.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { bodyParser } = require('@koa/bodyparser') as {
  bodyParser: (options?: { enableTypes?: string[] }) => Koa.Middleware;
};

/** What @koa/bodyparser leaves on ctx.request. */
type ParsedRequest = { body?: unknown; rawBody?: string };

interface LogEntry {
  url: string;
  status: number;
  /** The response had finished (or closed) when the code after `await next()` ran. */
  finished: boolean;
}

/** An http.Server for a Koa app (what app.listen() builds, but on 127.0.0.1:0 via listen()). */
function koaServer(app: Koa): Server {
  const handle = app.callback();
  return http.createServer((req, res) => void handle(req, res));
}

/** Always the first candidate, and remembers the hash key each request had. */
function firstWithKeys(keys: Array<string | undefined>): Strategy {
  return {
    name: 'first',
    pick: (candidates, ctx) => {
      keys.push(ctx.key);
      return candidates[0];
    },
  };
}

let a: TestUpstream;
let b: TestUpstream;
let dead: string;
let server: Server;
let rootServer: Server;
let lb: KoaLoadBalancer;
let lbDead: KoaLoadBalancer;
let lbRouted: KoaLoadBalancer;
let lbRoot: KoaLoadBalancer;
const rootKeys: Array<string | undefined> = [];
const log: LogEntry[] = [];
const logWaiters: Array<() => void> = [];
const appErrors: unknown[] = [];

/** Resolves once the logging middleware has logged `url` (its code after `await next()` ran). */
async function loggedEntry(url: string): Promise<LogEntry> {
  for (;;) {
    const entry = log.find((e) => e.url === url);
    if (entry) return entry;
    await new Promise<void>((resolve) => logWaiters.push(resolve));
  }
}

beforeAll(async () => {
  a = await echoUpstream('a');
  b = await echoUpstream('b');
  dead = await freePortThatRefuses();
  lb = koaLoadBalance({ upstreams: [a.url], healthCheck: false });
  lbDead = koaLoadBalance({ upstreams: [dead], healthCheck: false, retries: 0 });
  lbRouted = koaLoadBalance({
    upstreams: [dead],
    healthCheck: false,
    retries: 0,
    onError: (err) => {
      throw err; // hand it to Koa's error handling
    },
  });
  lbRoot = koaLoadBalance({
    upstreams: [a.url],
    healthCheck: false,
    algorithm: firstWithKeys(rootKeys),
    hashKey: 'ip',
  });

  const app = new Koa();
  app.on('error', (error: unknown) => appErrors.push(error));
  // An access log: its code after `await next()` must run once the response has ended.
  app.use(async (ctx, next) => {
    await next();
    log.push({
      url: ctx.originalUrl,
      status: ctx.status,
      finished: ctx.res.writableFinished || ctx.res.destroyed,
    });
    for (const wake of logWaiters.splice(0)) wake();
  });
  // An error-handling middleware, for failures an onError rethrows.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const err = error as LoadBalancerError;
      ctx.status = err.status;
      ctx.body = { error: err.code, handledBy: 'koa' };
    }
  });
  // Request headers set here reach the upstream; response headers set here reach the client.
  app.use(async (ctx, next) => {
    if (ctx.get('x-tag-request') !== '') ctx.req.headers['x-request-id'] = 'req-42';
    ctx.set('x-gateway', 'koa');
    await next();
  });
  app.use(mount('/api', lb));
  const parsed = new Koa();
  parsed.use(bodyParser({ enableTypes: ['json', 'form', 'text'] }));
  parsed.use(lb);
  app.use(mount('/parsed', parsed));
  const modified = new Koa();
  modified.use(bodyParser());
  modified.use(async (ctx, next) => {
    // Without the raw text, the parsed (here: changed) body is what gets re-serialised.
    const request = ctx.request as ParsedRequest;
    request.body = { ...(request.body as object), added: true };
    delete request.rawBody;
    await next();
  });
  modified.use(lb);
  app.use(mount('/modified', modified));
  app.use(mount('/dead', lbDead));
  app.use(mount('/routed', lbRouted));
  app.use((ctx) => {
    ctx.body = 'an ordinary Koa route';
  });
  server = await listen(koaServer(app));

  const root = new Koa();
  root.proxy = true; // ctx.ip and ctx.protocol trust X-Forwarded-*: so does the balancer
  root.use(lbRoot);
  rootServer = await listen(koaServer(root));
  rootServer.on('upgrade', lbRoot.upgrade);
});

afterAll(async () => {
  await Promise.all([lb.close(), lbDead.close(), lbRouted.close(), lbRoot.close()]);
  await Promise.all([closeServer(server), closeServer(rootServer)]);
  await Promise.all([a.close(), b.close()]);
});

async function echoOf(srv: Server, path: string, options?: SendOptions): Promise<Echo> {
  const reply = await send(urlOf(srv, path), options);
  expect(reply.status).toBe(200);
  return reply.json<Echo>();
}

describe('paths', () => {
  test.each([
    ['/api/users/42?x=1&y=%20', '/users/42?x=1&y=%20'],
    ['/api', '/'],
    ['/api/', '/'],
    ['/api?q=1', '/?q=1'],
    ['/api//double//slash', '//double//slash'],
    ['/api/%E2%9C%93/encoded%2Fslash', '/%E2%9C%93/encoded%2Fslash'],
  ])('under koa-mount the prefix is stripped: %s → %s', async (path, expected) => {
    expect((await echoOf(server, path)).url).toBe(expected);
  });

  test('at the root the path is forwarded as it came', async () => {
    expect((await echoOf(rootServer, '/users/42?x=1')).url).toBe('/users/42?x=1');
  });

  test('routes outside the mount stay Koa routes; the balancer never calls next', async () => {
    const reply = await send(urlOf(server, '/elsewhere'));
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('an ordinary Koa route');
    // the balancer answered /api: the fall-through route was not reached (it would say so)
    expect((await send(urlOf(server, '/api/x'))).text).not.toBe('an ordinary Koa route');
  });
});

describe('bodies', () => {
  test('a streamed body without a parser arrives byte for byte', async () => {
    const body = randomBytes(256 * 1024);
    const echo = await echoOf(server, '/api/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      body,
    });
    expect(echo.bodyLength).toBe(body.length);
    expect(echo.bodySha256).toBe(sha256(body));
  });

  test('a chunked body without a parser arrives byte for byte', async () => {
    const body = randomBytes(64 * 1024);
    const echo = await echoOf(rootServer, '/upload', {
      method: 'PUT',
      headers: { 'transfer-encoding': 'chunked' },
      body,
    });
    expect(echo.bodySha256).toBe(sha256(body));
  });

  test.each([
    ['application/json', '{ "b": 1,\n  "a": [1, 2], "text": "é ✓" }'],
    ['application/json; charset=utf-8', '[1,2,   3]'],
    ['application/x-www-form-urlencoded', 'a=1&b=%20x+y&c%5Bd%5D=e&c[f]=g&empty='],
    ['text/plain', 'plain text, ünïcode ✓\r\n'],
  ])(
    'a %s body @koa/bodyparser read is re-sent byte for byte with its Content-Length',
    async (type, text) => {
      const echo = await echoOf(server, '/parsed/things', {
        method: 'POST',
        headers: { 'content-type': type, 'content-length': Buffer.byteLength(text) },
        body: text,
      });
      expect(echo.body).toBe(text);
      expect(echo.bodySha256).toBe(sha256(text));
      expect(echo.headers['content-length']).toBe(String(Buffer.byteLength(text)));
      expect(echo.url).toBe('/things');
    },
  );

  test('a body type the parser skips is still streamed (the parser left it unread)', async () => {
    const body = randomBytes(32 * 1024);
    const echo = await echoOf(server, '/parsed/blob', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      body,
    });
    expect(echo.bodySha256).toBe(sha256(body));
  });

  test('without rawBody, ctx.request.body is re-serialised (a middleware may change it)', async () => {
    const echo = await echoOf(server, '/modified/x', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"n": 1}',
    });
    expect(JSON.parse(echo.body)).toEqual({ n: 1, added: true });
    expect(echo.headers['content-length']).toBe(String(Buffer.byteLength(echo.body)));
  });
});

describe('headers and the client', () => {
  test('request headers a Koa middleware sets on ctx.req reach the upstream', async () => {
    const echo = await echoOf(server, '/api/h', { headers: { 'x-tag-request': '1' } });
    expect(echo.headers['x-request-id']).toBe('req-42');
  });

  test('response headers a Koa middleware set before it reach the client with the answer', async () => {
    const reply = await send(urlOf(server, '/api/h'));
    expect(reply.headers['x-gateway']).toBe('koa');
    expect(reply.headers['x-upstream']).toBe('a');
  });

  test("with app.proxy, Koa's ctx.ip and ctx.protocol are the balancer's client", async () => {
    rootKeys.length = 0;
    const echo = await echoOf(rootServer, '/who', {
      headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' },
    });
    expect(rootKeys).toEqual(['203.0.113.7']); // hashKey 'ip' read ctx.ip
    expect(echo.headers['x-forwarded-proto']).toBe('https');
  });

  test('without app.proxy, X-Forwarded-Proto from the client is not believed', async () => {
    const echo = await echoOf(server, '/api/who', { headers: { 'x-forwarded-proto': 'https' } });
    expect(echo.headers['x-forwarded-proto']).toBe('http');
  });
});

describe('the middleware around it', () => {
  test('code after `await next()` runs once the response has ended, with its status', async () => {
    const reply = await send(urlOf(server, '/api/logged?n=1'));
    expect(reply.status).toBe(200);
    const entry = await loggedEntry('/api/logged?n=1');
    expect(entry).toEqual({ url: '/api/logged?n=1', status: 200, finished: true });
  });
});

describe('failures', () => {
  test("a dead upstream: the balancer's own 502 stands, Koa's error handling is not involved", async () => {
    const before = appErrors.length;
    const reply = await send(urlOf(server, '/dead/x'));
    expect(reply.status).toBe(502);
    expect(reply.text).toBe('502 Bad Gateway\n');
    expect(reply.text).not.toContain('127.0.0.1');
    expect(await loggedEntry('/dead/x')).toEqual({ url: '/dead/x', status: 502, finished: true });
    expect(appErrors.length).toBe(before);
    expect(lbDead.stats().failedRequests).toBeGreaterThanOrEqual(1);
  });

  test("an onError that rethrows hands the failure to Koa's error handling", async () => {
    const reply = await send(urlOf(server, '/routed/x'));
    expect(reply.status).toBe(502);
    expect(reply.json()).toEqual({ error: 'ERR_LB_UPSTREAM_UNREACHABLE', handledBy: 'koa' });
    expect(reply.headers['x-gateway']).toBe('koa');
    // Koa itself writes this answer, after the middleware chain has unwound (as for any ctx.body)
    expect(await loggedEntry('/routed/x')).toMatchObject({ url: '/routed/x', status: 502 });
  });

  test("without an error middleware, a rethrown error gets Koa's default answer", async () => {
    const lbBare = koaLoadBalance({
      upstreams: [dead],
      healthCheck: false,
      retries: 0,
      onError: (err) => {
        throw err;
      },
    });
    const app = new Koa();
    const errors: unknown[] = [];
    app.on('error', (error: unknown) => errors.push(error));
    app.use(lbBare);
    const bare = await listen(koaServer(app));
    try {
      const reply = await send(urlOf(bare, '/'));
      expect(reply.status).toBe(502);
      expect(reply.text).toBe('Bad Gateway'); // Koa's text, never the error's message
      expect(errors).toHaveLength(1);
      expect((errors[0] as LoadBalancerError).code).toBe('ERR_LB_UPSTREAM_UNREACHABLE');
    } finally {
      await lbBare.close();
      await closeServer(bare);
    }
  });

  test('an onError that answers itself stands', async () => {
    const lbOwn = koaLoadBalance({
      upstreams: [dead],
      healthCheck: false,
      retries: 0,
      onError: (err, _req, res) => {
        res.statusCode = (err as LoadBalancerError).status;
        res.end('custom');
      },
    });
    const app = new Koa();
    app.use(lbOwn);
    const own = await listen(koaServer(app));
    try {
      const reply = await send(urlOf(own, '/'));
      expect(reply.status).toBe(502);
      expect(reply.text).toBe('custom');
    } finally {
      await lbOwn.close();
      await closeServer(own);
    }
  });
});

describe('members', () => {
  test('stats, on("retry"), addUpstream, removeUpstream and close work on the Koa middleware', async () => {
    const lbm = koaLoadBalance({
      upstreams: [
        { url: dead, id: 'dead' },
        { url: a.url, id: 'a' },
      ],
      algorithm: firstWithKeys([]),
      healthCheck: false,
      passiveHealth: false,
    });
    const retries: Array<{ from: string; to: string }> = [];
    expect(lbm.on('retry', ({ from, to }) => retries.push({ from, to }))).toBe(lbm);
    const app = new Koa();
    app.use(mount('/m', lbm));
    const srv = await listen(koaServer(app));
    try {
      // the strategy picks 'dead' first: refused, retried on 'a'
      expect((await echoOf(srv, '/m/one')).name).toBe('a');
      expect(retries).toEqual([{ from: 'dead', to: 'a' }]);
      const stats = lbm.stats();
      expect(stats.totalRequests).toBe(1);
      expect(stats.successfulRequests).toBe(1);
      expect(stats.upstreams.map((u) => [u.id, u.totalRequests, u.failedRequests])).toEqual([
        ['dead', 1, 1],
        ['a', 1, 0],
      ]);

      expect(lbm.addUpstream({ url: b.url, id: 'b' }).id).toBe('b');
      expect(lbm.removeUpstream('dead')).toBe(true);
      expect(lbm.removeUpstream('a')).toBe(true);
      expect(lbm.removeUpstream('nope')).toBe(false);
      expect((await echoOf(srv, '/m/two')).name).toBe('b');

      expect(lbm.removeUpstream('b')).toBe(true);
      const none = await send(urlOf(srv, '/m/three'));
      expect(none.status).toBe(503);
      expect(none.headers['retry-after']).toBe('1');
      expect(lbm.stats()).toMatchObject({ totalRequests: 3, failedRequests: 1 });
      expect(lbm.stats().upstreams).toEqual([]);
    } finally {
      await lbm.close();
      await lbm.close(); // idempotent
      await closeServer(srv);
    }
  });

  test("server.on('upgrade', lb.upgrade) proxies WebSockets exactly as with Express", async () => {
    const upstream = http.createServer((_req, res) => res.end());
    const wss = new WebSocketServer({ server: upstream });
    wss.on('connection', (socket, req) => {
      socket.on('message', (data) => socket.send(`${(data as Buffer).toString()}:${req.url}`));
    });
    await listen(upstream);
    const lbWs = koaLoadBalance({ upstreams: [urlOf(upstream, '')], healthCheck: false });
    const app = new Koa();
    app.use(mount('/api', lbWs));
    const srv = await listen(koaServer(app));
    srv.on('upgrade', lbWs.upgrade);
    try {
      const socket = new WebSocket(urlOf(srv, '/chat?room=1').replace(/^http/, 'ws'));
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      const reply = await new Promise<string>((resolve) => {
        socket.once('message', (data) => resolve((data as Buffer).toString()));
        socket.send('hi');
      });
      expect(reply).toBe('hi:/chat?room=1');
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close();
      });
    } finally {
      await lbWs.close();
      await closeServer(srv);
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await closeServer(upstream);
    }
  });
});
