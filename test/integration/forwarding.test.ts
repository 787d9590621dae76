// Forwarding, as a user of app.use('/api', loadBalance(...)) sees it: paths, headers and bodies
// arrive at the upstream as the client sent them, and the upstream's answer reaches the client.

import { randomBytes } from 'node:crypto';
import http, { type Server } from 'node:http';
import express from 'express';
import { loadBalance, type LoadBalancer } from '../../src';
import { echoUpstream, sha256, type Echo } from '../helpers/echo';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import { startUpstream, type TestUpstream } from '../helpers/upstreams';

let upstream: TestUpstream;
let based: TestUpstream;
let server: Server;
let lb: LoadBalancer;
let lbBased: LoadBalancer;
let lbOrigin: LoadBalancer;
let lbRewrite: LoadBalancer;

beforeAll(async () => {
  upstream = await echoUpstream('a');
  based = await echoUpstream('based');
  lb = loadBalance({ upstreams: [upstream.url], healthCheck: false });
  lbBased = loadBalance({ upstreams: [`${based.url}/v1/`], healthCheck: false });
  lbOrigin = loadBalance({ upstreams: [upstream.url], healthCheck: false, changeOrigin: true });
  lbRewrite = loadBalance({
    upstreams: [upstream.url],
    healthCheck: false,
    pathRewrite: (path) => path.replace(/^\/old/, '/new'),
  });
  const app = express();
  app.use('/api', lb);
  app.use('/based', lbBased);
  app.use('/origin', lbOrigin);
  app.use('/rewrite', lbRewrite);
  app.use('/json', express.json(), lb);
  app.use('/form', express.urlencoded({ extended: true }), lb);
  app.use('/text', express.text(), lb);
  app.use('/raw', express.raw({ type: '*/*', limit: '5mb' }), lb);
  app.use(
    '/verify',
    express.json({
      verify: (req, _res, buf) => {
        (req as http.IncomingMessage & { rawBody?: Buffer }).rawBody = Buffer.from(buf);
      },
    }),
    lb,
  );
  server = await listen(http.createServer(app));
});

afterAll(async () => {
  await Promise.all([lb.close(), lbBased.close(), lbOrigin.close(), lbRewrite.close()]);
  await closeServer(server);
  await Promise.all([upstream.close(), based.close()]);
});

const echoOf = async (path: string, options?: Parameters<typeof send>[1]) => {
  const reply = await send(urlOf(server, path), options);
  expect(reply.status).toBe(200);
  return reply.json<Echo>();
};

describe('paths', () => {
  test.each([
    ['/api/users/42?x=1&y=%20', '/users/42?x=1&y=%20'],
    ['/api', '/'],
    ['/api/', '/'],
    ['/api//double//slash', '//double//slash'],
    ['/api/%E2%9C%93/encoded%2Fslash', '/%E2%9C%93/encoded%2Fslash'],
  ])('the mount path is stripped: %s → %s', async (path, expected) => {
    expect((await echoOf(path)).url).toBe(expected);
  });

  test("the upstream URL's base path is prefixed", async () => {
    expect((await echoOf('/based/users?q=1')).url).toBe('/v1/users?q=1');
  });

  test('pathRewrite rewrites the forwarded path', async () => {
    expect((await echoOf('/rewrite/old/thing?z=2')).url).toBe('/new/thing?z=2');
  });
});

describe('headers', () => {
  test('X-Forwarded-For appends the client to the chain; -Proto and -Host are set', async () => {
    const echo = await echoOf('/api/h', {
      headers: { 'x-forwarded-for': '203.0.113.9', host: 'shop.example' },
    });
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['x-forwarded-host']).toBe('shop.example');
    expect(echo.headers.host).toBe('shop.example');
  });

  test('hop-by-hop headers and those named in Connection are not forwarded', async () => {
    const echo = await echoOf('/api/h', {
      headers: {
        connection: 'keep-alive, x-secret-hop',
        'keep-alive': 'timeout=5',
        'x-secret-hop': 'drop me',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
        'x-kept': 'kept',
      },
    });
    expect(echo.headers['x-secret-hop']).toBeUndefined();
    expect(echo.headers['keep-alive']).toBeUndefined();
    expect(echo.headers['proxy-authorization']).toBeUndefined();
    expect(echo.headers.te).toBeUndefined();
    expect(echo.headers['x-kept']).toBe('kept');
  });

  test('end-to-end headers keep their values, repeated ones included', async () => {
    const echo = await echoOf('/api/h', {
      headers: { 'x-many': ['one', 'two'], authorization: 'Bearer t0k3n', cookie: 'a=1; b=2' },
    });
    expect(echo.headers['x-many']).toBe('one, two');
    expect(echo.headers.authorization).toBe('Bearer t0k3n');
    expect(echo.headers.cookie).toBe('a=1; b=2');
  });

  test("changeOrigin sends the upstream's host", async () => {
    const echo = await echoOf('/origin/h', { headers: { host: 'shop.example' } });
    expect(echo.headers.host).toBe(new URL(upstream.url).host);
    expect(echo.headers['x-forwarded-host']).toBe('shop.example');
  });

  test("the upstream's response headers and status reach the client", async () => {
    const teapot = await startUpstream((_req, res) => {
      res.setHeader('set-cookie', ['u1=a; Path=/', 'u2=b; Path=/']);
      res.setHeader('x-custom', 'yes');
      res.statusCode = 418;
      res.end('short and stout');
    });
    const local = loadBalance({ upstreams: [teapot.url], healthCheck: false });
    const app = express().use(local);
    const s = await listen(http.createServer(app));
    try {
      const reply = await send(urlOf(s, '/'));
      expect(reply.status).toBe(418);
      expect(reply.text).toBe('short and stout');
      expect(reply.headers['x-custom']).toBe('yes');
      expect(reply.headers['set-cookie']).toEqual(['u1=a; Path=/', 'u2=b; Path=/']);
    } finally {
      await local.close();
      await closeServer(s);
      await teapot.close();
    }
  });
});

describe('bodies', () => {
  test('a streamed binary body arrives byte for byte', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const echo = await echoOf('/api/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      body,
    });
    expect(echo.bodyLength).toBe(body.length);
    expect(echo.bodySha256).toBe(sha256(body));
  });

  test('a chunked body (no Content-Length) arrives intact', async () => {
    const body = randomBytes(200_000);
    const reply = await new Promise<Echo>((resolve, reject) => {
      const req = http.request(
        urlOf(server, '/api/chunked'),
        { method: 'PUT', agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, 100_000));
      setTimeout(() => req.end(body.subarray(100_000)), 20);
    });
    expect(reply.headers['transfer-encoding']).toBe('chunked');
    expect(reply.bodySha256).toBe(sha256(body));
  });

  test('a large response streams to the client intact', async () => {
    const payload = randomBytes(5 * 1024 * 1024);
    const big = await startUpstream((_req, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(payload);
    });
    const local = loadBalance({ upstreams: [big.url], healthCheck: false });
    const s = await listen(http.createServer(express().use(local)));
    try {
      const reply = await send(urlOf(s, '/file'));
      expect(reply.body.length).toBe(payload.length);
      expect(sha256(reply.body)).toBe(sha256(payload));
    } finally {
      await local.close();
      await closeServer(s);
      await big.close();
    }
  });

  test('a body parsed by express.json() is re-sent with a correct Content-Length', async () => {
    const value = { name: 'Zoë', tags: ['a', 'b'], nested: { n: 1, ok: true } };
    const echo = await echoOf('/json/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(value, null, 2),
    });
    expect(JSON.parse(echo.body)).toEqual(value);
    expect(Number(echo.headers['content-length'])).toBe(Buffer.byteLength(echo.body));
  });

  test('a body parsed by express.urlencoded() is re-sent as an equal form', async () => {
    const echo = await echoOf('/form/f', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&b=two%20words&list[]=x&list[]=y&obj[k]=v',
    });
    const params = new URLSearchParams(echo.body);
    expect(params.get('a')).toBe('1');
    expect(params.get('b')).toBe('two words');
    expect(params.getAll('list[]')).toEqual(['x', 'y']);
    expect(params.get('obj[k]')).toBe('v');
    expect(Number(echo.headers['content-length'])).toBe(Buffer.byteLength(echo.body));
  });

  test('a body parsed by express.text() is re-sent intact', async () => {
    const text = 'plain text ✓ with unicode';
    const echo = await echoOf('/text/t', {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: text,
    });
    expect(echo.body).toBe(text);
    expect(Number(echo.headers['content-length'])).toBe(Buffer.byteLength(text));
  });

  test('a body parsed by express.raw() is re-sent byte for byte', async () => {
    const body = randomBytes(100_000);
    const echo = await echoOf('/raw/r', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    expect(echo.bodySha256).toBe(sha256(body));
  });

  test('raw bytes kept by a verify hook are re-sent exactly, whitespace included', async () => {
    const body = '{ "spaced" :   true,\n  "n": 1.50 }';
    const echo = await echoOf('/verify/v', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(echo.body).toBe(body);
  });

  test('HEAD and DELETE pass through', async () => {
    const head = await send(urlOf(server, '/api/x'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const del = await echoOf('/api/x', { method: 'DELETE' });
    expect(del.method).toBe('DELETE');
  });
});
