// Faulty and hostile clients. A client that leaves — mid-upload, while the upstream works, or
// mid-download — aborts its upstream request and is never counted against the upstream. A client
// reading a large response slowly holds the balancer to backpressure, not buffering (measured in
// a child process's RSS while 200 MB pass). Hundreds of idle keep-alive connections neither block
// service nor leak. Requests framed ambiguously (Content-Length with Transfer-Encoding, duplicated
// lengths or Host, malformed chunking) are rejected by Node's parser or normalised, never
// forwarded ambiguous. And what a client cannot choose: the address the balancer connects to,
// or the X-Forwarded-Host/-Proto an upstream believes (unless a trusted proxy sent them).

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import express from 'express';
import Koa from 'koa';
import { koaLoadBalance } from 'loadbalance-middleware/koa';
import { echoUpstream, type Echo } from '../helpers/echo';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import { answer, faultUpstream, type FaultUpstream } from '../helpers/fault-upstream';
import { startUpstream, waitFor, type TestUpstream } from '../helpers/upstreams';
import { loadBalance, type LoadBalancerStats } from '../../src';
import {
  recordProcessFaults,
  request,
  serveBalancer,
  waitIdle,
  type ProcessFaults,
  type Served,
} from './harness';

const opened: Array<{ close(): Promise<void> }> = [];
let faults: ProcessFaults;

beforeEach(() => {
  faults = recordProcessFaults();
});

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
  faults.stop();
  expect(faults.seen).toEqual([]);
});

async function keep<T extends { close(): Promise<void> }>(item: Promise<T>): Promise<T> {
  const value = await item;
  opened.push(value);
  return value;
}

// ------------------------------------------------------------------------------ aborts

interface UploadSeen {
  bytes: number;
  complete: boolean;
  aborted: boolean;
}

function uploadSink(seen: UploadSeen): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    req.on('data', (chunk: Buffer) => (seen.bytes += chunk.length));
    req.on('end', () => {
      seen.complete = true;
      res.end('stored');
    });
    res.on('close', () => {
      if (!res.writableFinished) seen.aborted = true;
    });
  });
}

describe.each([
  { framing: 'Content-Length', headers: { 'content-length': String(10 * 1024 * 1024) } },
  { framing: 'chunked', headers: { 'transfer-encoding': 'chunked' } },
])('a client that aborts mid-upload ($framing)', ({ headers }) => {
  test('aborts the upstream request; in-flight 0; not a failure of the upstream', async () => {
    const seen: UploadSeen = { bytes: 0, complete: false, aborted: false };
    const upstream = await keep(uploadSink(seen));
    const lb = await keep(
      serveBalancer({
        upstreams: [upstream.url],
        healthCheck: false,
        passiveHealth: { failures: 1, ejectFor: 60_000 },
      }),
    );
    for (let round = 0; round < 2; round++) {
      seen.bytes = 0;
      seen.aborted = false;
      const req = http.request(`${lb.url}/upload`, { method: 'POST', agent: false, headers });
      req.on('error', () => {});
      req.write(Buffer.alloc(256 * 1024, 7));
      await waitFor(() => seen.bytes >= 64 * 1024, { message: 'the upload reached the upstream' });
      req.destroy();
      await waitFor(() => seen.aborted, { message: 'the upstream request was aborted' });
      expect(seen.complete).toBe(false);
      await waitIdle(lb.balancer);
      await waitFor(() => upstream.inFlight === 0, { message: 'the upstream finished it' });
    }
    const stats = lb.balancer.stats();
    // The client left: nothing to answer, and no failure counted against the upstream.
    expect(stats.upstreams[0]).toMatchObject({ ejected: false, failedRequests: 0 });
    expect(stats.failedRequests).toBe(0);
  });
});

describe.each([
  { method: 'GET', body: undefined },
  { method: 'POST', body: Buffer.alloc(64 * 1024, 1) },
])(
  'a client that leaves while the upstream works ($method, request sent in full)',
  ({ method, body }) => {
    test('aborts the upstream request; in-flight 0; not a failure of the upstream', async () => {
      // http-proxy aborts on the request's 'aborted', which a complete request never emits: only
      // the balancer's own watch on the response's 'close' catches this client.
      const seen = { arrived: 0, aborted: 0 };
      const upstream = await keep(
        startUpstream((req, res) => {
          req.resume();
          req.on('end', () => seen.arrived++);
          res.on('close', () => {
            if (!res.writableFinished) seen.aborted++;
          });
        }),
      );
      const lb = await keep(
        serveBalancer({
          upstreams: [upstream.url],
          healthCheck: false,
          passiveHealth: { failures: 1, ejectFor: 60_000 },
        }),
      );
      const req = http.request(`${lb.url}/work`, {
        method,
        agent: false,
        headers: body ? { 'content-length': String(body.length) } : {},
      });
      req.on('error', () => {});
      req.end(body);
      await waitFor(() => seen.arrived === 1, {
        message: 'the request reached the upstream whole',
      });
      req.destroy();
      await waitFor(() => seen.aborted === 1, { message: 'the upstream request was aborted' });
      await waitIdle(lb.balancer);
      expect(lb.balancer.stats().upstreams[0]).toMatchObject({ ejected: false, failedRequests: 0 });
    });
  },
);

test('a client that aborts mid-download aborts the upstream response, never counts as a failure', async () => {
  const state = { closedEarly: 0, written: 0 };
  const upstream = await keep(
    startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = () => {
        while (res.write(Buffer.alloc(16 * 1024))) state.written += 16 * 1024;
      };
      res.on('drain', pump);
      pump();
      res.on('close', () => {
        if (!res.writableFinished) state.closedEarly++;
      });
    }),
  );
  const lb = await keep(
    serveBalancer({
      upstreams: [upstream.url],
      healthCheck: false,
      passiveHealth: { failures: 1, ejectFor: 60_000 },
    }),
  );
  for (let round = 1; round <= 3; round++) {
    await new Promise<void>((resolve) => {
      const req = http.get(`${lb.url}/stream`, { agent: false }, (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > 256 * 1024) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', () => {});
    });
    await waitFor(() => state.closedEarly === round, { message: 'the upstream response aborted' });
    await waitIdle(lb.balancer);
  }
  expect(lb.balancer.stats().upstreams[0]).toMatchObject({ ejected: false, failedRequests: 0 });
  // The next client is served normally.
  upstream.server.removeAllListeners('request');
  upstream.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) =>
    res.end('fine'),
  );
  const next = await request(`${lb.url}/after`).done;
  expect(next).toMatchObject({ status: 200, cut: false });
});

// --------------------------------------------------------------- slow reader, child process

const ROOT = path.resolve(__dirname, '../..');
const REGISTER = path.join(ROOT, 'test/helpers/ts-register.js');
const CHILD = path.join(ROOT, 'test/helpers/balancer-child.ts');

interface ChildBalancer {
  readonly url: string;
  readonly pid: number;
  stats(): Promise<LoadBalancerStats>;
  close(): Promise<void>;
}

async function spawnBalancer(upstreams: string[]): Promise<ChildBalancer> {
  const child: ChildProcess = spawn(process.execPath, ['-r', REGISTER, CHILD], {
    cwd: ROOT,
    env: { ...process.env, LB_UPSTREAMS: JSON.stringify(upstreams) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiting: Array<(line: Record<string, unknown>) => boolean> = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    const i = waiting.findIndex((accept) => accept(line));
    if (i >= 0) waiting.splice(i, 1);
  });
  const next = (event: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child: no ${event} in time`)), 20_000);
      waiting.push((line) => {
        if (line.event !== event) return false;
        clearTimeout(timer);
        resolve(line);
        return true;
      });
    });
  const listening = await next('listening');
  return {
    url: `http://127.0.0.1:${listening.port as number}`,
    pid: listening.pid as number,
    stats: async () => {
      const reply = next('stats');
      child.stdin!.write('stats\n');
      return (await reply).stats as LoadBalancerStats;
    },
    close: async () => {
      child.stdin!.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Resident set size of a process, in bytes, from /proc (Linux). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : 0;
}

const MB = 1024 * 1024;

test('a slow reader of a 200 MB response: the balancer holds to backpressure, its memory stays bounded', async () => {
  const TOTAL = 200 * MB;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const up = { written: 0, blockedSince: 0, blocked: false, finished: false };
  const upstream = await keep(
    startUpstream((req, res) => {
      if (req.url !== '/big') {
        res.end('warm');
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(TOTAL),
      });
      const pump = () => {
        up.blocked = false;
        while (up.written < TOTAL) {
          up.written += chunk.length;
          if (!res.write(chunk)) {
            up.blocked = true;
            up.blockedSince = Date.now();
            res.once('drain', pump);
            return;
          }
        }
        up.finished = true;
        res.end();
      };
      pump();
    }),
  );
  const child = await keep(spawnBalancer([upstream.url]));
  // Warm up first, so loading code and filling pools do not count as growth.
  for (let i = 0; i < 20; i++) {
    expect((await request(`${child.url}/warm-up`).done).status).toBe(200);
  }
  const baseline = rssOf(child.pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(child.pid))), 25);
  try {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get(`${child.url}/big`, { agent: false }, resolve);
      req.on('error', reject);
    });
    expect(res.statusCode).toBe(200);
    res.pause();
    let received = 0;
    const inTransit: number[] = [];
    // The upstream is stuck on backpressure (or done, if the balancer buffered everything).
    const stalled = () => up.finished || (up.blocked && Date.now() - up.blockedSince > 300);
    const burst = (bytes: number) =>
      new Promise<void>((resolve) => {
        let got = 0;
        const onData = (data: Buffer) => {
          received += data.length;
          got += data.length;
          if (got >= bytes || received >= TOTAL) {
            res.pause();
            res.off('data', onData);
            resolve();
          }
        };
        res.on('data', onData);
        res.resume();
      });
    while (received < TOTAL) {
      await waitFor(stalled, {
        timeoutMs: 30_000,
        message: 'the upstream stalled on backpressure',
      });
      inTransit.push(up.written - received);
      peak = Math.max(peak, rssOf(child.pid));
      await burst(20 * MB);
    }
    expect(received).toBe(TOTAL);
    // What the upstream had written beyond what the client had read, each time it stalled:
    // socket buffers and stream high-water marks, not the response.
    expect(Math.max(...inTransit)).toBeLessThan(48 * MB);
    expect(inTransit.length).toBeGreaterThanOrEqual(10);
    expect(peak - baseline).toBeLessThan(100 * MB);
    await waitFor(() => up.finished, { message: 'the upstream finished' });
    const stats = await child.stats();
    expect(stats.upstreams.every((u) => u.activeConnections === 0)).toBe(true);
  } finally {
    clearInterval(sampler);
  }
}, 90_000);

// ------------------------------------------------------------------ idle keep-alive clients

test('200 idle keep-alive connections: requests are still served, and nothing leaks when they close', async () => {
  const IDLE = 200;
  const upstream = await keep(startUpstream((_req, res) => res.end('ok')));
  upstream.server.keepAliveTimeout = 60_000; // only the balancer may close its sockets
  const tcpHandles = () =>
    process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
  const lb = await keep(
    serveBalancer({ upstreams: [upstream.url], healthCheck: false, maxSockets: 32 }),
  );
  lb.server.keepAliveTimeout = 60_000; // idle means idle for the whole test
  const connections = () =>
    new Promise<number>((resolve) => lb.server.getConnections((_e, n) => resolve(n)));
  const before = tcpHandles();
  const agent = new http.Agent({ keepAlive: true, maxSockets: IDLE, maxFreeSockets: IDLE });
  const get = (url: string, via: http.Agent | false) =>
    new Promise<number>((resolve, reject) => {
      http
        .get(url, { agent: via }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
  try {
    const first = await Promise.all(
      Array.from({ length: IDLE }, (_, i) => get(`${lb.url}/open/${i}`, agent)),
    );
    expect(first.every((s) => s === 200)).toBe(true);
    await waitFor(() => countFree(agent) === IDLE, { message: `${IDLE} idle client sockets` });
    expect(await connections()).toBe(IDLE);
    // Idle connections take nothing from others: fresh clients are served…
    const fresh = await Promise.all(
      Array.from({ length: 20 }, (_, i) => get(`${lb.url}/fresh/${i}`, false)),
    );
    expect(fresh.every((s) => s === 200)).toBe(true);
    // …and so are the idle ones when they speak again.
    const again = await Promise.all(
      Array.from({ length: 50 }, (_, i) => get(`${lb.url}/again/${i}`, agent)),
    );
    expect(again.every((s) => s === 200)).toBe(true);
    // maxSockets bounds the upstream side, however many clients there are.
    expect(upstream.maxInFlight).toBeLessThanOrEqual(32);
  } finally {
    agent.destroy();
  }
  // The clients are gone: so are their server-side connections…
  await until(async () => (await connections()) === 0, 'the balancer server has no connection');
  await waitIdle(lb.balancer);
  // …and close() takes the keep-alive sockets to the upstream with it.
  await lb.close();
  const upstreamConnections = () =>
    new Promise<number>((resolve) => upstream.server.getConnections((_e, n) => resolve(n)));
  await until(
    async () => (await upstreamConnections()) === 0,
    'the upstream has no connection from the balancer',
  );
  await upstream.close();
  // …and every socket this test opened: clients, server side, the keep-alive agent upstream.
  await waitFor(() => tcpHandles() <= before, { message: 'no TCP socket left behind' });
});

/** waitFor for an asynchronous predicate. */
async function until(predicate: () => Promise<boolean>, message: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`until: ${message} not met within 10000 ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function countFree(agent: http.Agent): number {
  return Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
}

// ----------------------------------------------------------------------- request smuggling

interface RawCase {
  name: string;
  raw: string;
  /** 400 from Node's parser, or 200 after normalising. */
  status: 400 | 200;
  /** For normalised cases: what the upstream must have seen. */
  check?: (upstream: FaultUpstream) => void;
}

/**
 * Sends raw bytes and returns the status of the first response: Node's own 400 (after which it
 * closes the connection), or the proxied answer, read to its Content-Length. The client keeps its
 * write side open meanwhile: a half-close could end the exchange before the answer.
 */
function rawExchange(url: string, raw: string): Promise<number | undefined> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(raw));
    let text = '';
    let status: number | undefined;
    const finish = () => {
      resolve(status);
      socket.destroy();
    };
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      text += data;
      const head = /^HTTP\/1\.1 (\d{3}) [^]*?\r\n\r\n/.exec(text);
      if (!head) return;
      status = Number(head[1]);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head[0]);
      if (length && text.length >= head[0].length + Number(length[1])) finish();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
  });
}

const headerCount = (headers: ReadonlyArray<readonly [string, string]>, name: string) =>
  headers.filter(([n]) => n.toLowerCase() === name).length;

const POST = 'POST /s HTTP/1.1\r\nHost: lb.example\r\n';
const INNER = 'GET /admin HTTP/1.1\r\nHost: x\r\n\r\n';

const smuggling: RawCase[] = [
  {
    name: 'Content-Length and Transfer-Encoding together',
    raw: `${POST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n`,
    status: 400,
  },
  {
    name: 'Transfer-Encoding and Content-Length (reversed order)',
    raw: `${POST}Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n`,
    status: 400,
  },
  {
    name: 'two different Content-Lengths',
    raw: `${POST}Content-Length: 5\r\nContent-Length: 11\r\n\r\nhello world`,
    status: 400,
  },
  {
    name: 'a Content-Length list',
    raw: `${POST}Content-Length: 5, 11\r\n\r\nhello world`,
    status: 400,
  },
  {
    name: 'a space before the colon of Transfer-Encoding',
    raw: `${POST}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'an obs-folded Transfer-Encoding',
    raw: `${POST}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'chunked, then identity',
    raw: `${POST}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'a bare LF line ending',
    raw: 'POST /s HTTP/1.1\nHost: lb.example\nContent-Length: 5\n\nhello',
    status: 400,
  },
  {
    name: 'a negative Content-Length',
    raw: `${POST}Content-Length: -1\r\n\r\n`,
    status: 400,
  },
  {
    name: 'a chunk size that is not hex',
    raw: `${POST}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'an unknown transfer coding (xchunked)',
    raw: `${POST}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 400,
  },
  {
    name: 'a duplicated Host',
    raw: 'GET /s HTTP/1.1\r\nHost: first.example\r\nHost: second.example\r\n\r\n',
    status: 200,
    check: (upstream) => {
      const [seen] = upstream.requests;
      expect(headerCount(seen!.headers, 'host')).toBe(1);
      const host = seen!.headers.find(([n]) => n.toLowerCase() === 'host')![1];
      const forwarded = seen!.headers.find(([n]) => n.toLowerCase() === 'x-forwarded-host')?.[1];
      // One Host, and X-Forwarded-Host agreeing with it: the upstream sees no second opinion.
      expect(host).toBe('first.example');
      expect(forwarded).toBe('first.example');
      expect(seen!.head).not.toContain('second.example');
    },
  },
  {
    name: 'chunked with a chunk extension',
    raw: `${POST}Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n`,
    status: 200,
    check: (upstream) => {
      const [seen] = upstream.requests;
      expect(seen!.complete).toBe(true);
      expect(seen!.body.toString()).toBe('hello');
    },
  },
  {
    name: 'a body holding a second request (Content-Length)',
    raw: `${POST}Content-Length: ${INNER.length}\r\n\r\n${INNER}`,
    status: 200,
    check: (upstream) => {
      expect(upstream.requests).toHaveLength(1);
      expect(upstream.requests[0]!.body.toString()).toBe(INNER);
    },
  },
  {
    name: 'HTTP/1.0 with chunked',
    raw: 'POST /s HTTP/1.0\r\nHost: lb.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    status: 200,
    check: (upstream) => {
      expect(upstream.requests[0]!.body.toString()).toBe('hello');
    },
  },
];

describe('ambiguous requests are rejected or normalised, never forwarded ambiguous', () => {
  let upstream: FaultUpstream;
  let lb: Served;

  beforeEach(async () => {
    upstream = await keep(faultUpstream(answer(200, 'ok')));
    lb = await keep(serveBalancer({ upstreams: [upstream.url], healthCheck: false }));
  });

  test.each(smuggling)('$name', async ({ raw, status, check }) => {
    expect(await rawExchange(lb.url, raw)).toBe(status);
    await waitIdle(lb.balancer);
    // Whatever reached the upstream is framed one way only, with one Host…
    for (const seen of upstream.requests) {
      const cl = headerCount(seen.headers, 'content-length');
      const te = headerCount(seen.headers, 'transfer-encoding');
      expect(cl + te).toBeLessThanOrEqual(1);
      expect(headerCount(seen.headers, 'host')).toBe(1);
      if (te === 1) {
        const value = seen.headers.find(([n]) => n.toLowerCase() === 'transfer-encoding')![1];
        expect(value).toBe('chunked');
      }
      if (cl === 1 && seen.complete) {
        const value = seen.headers.find(([n]) => n.toLowerCase() === 'content-length')![1];
        expect(seen.body.length).toBe(Number(value));
      }
    }
    // …and a rejected request never arrives whole: nothing, or a request cut off unfinished.
    if (status === 400) {
      expect(upstream.requests.filter((r) => r.complete)).toEqual([]);
      await waitFor(() => upstream.openConnections === 0, {
        message: 'the unfinished upstream request was aborted',
      });
    } else {
      expect(upstream.requests.filter((r) => r.complete)).toHaveLength(1);
      check?.(upstream);
    }
    expect(upstream.requests.every((r) => r.target === '/s')).toBe(true);
  });
});

test('even under insecureHTTPParser, Content-Length + Transfer-Encoding leave as one framing', async () => {
  // Node's lenient parser lets both through (Transfer-Encoding wins); the balancer then drops the
  // Content-Length (RFC 9112 §6.3), or the upstream would read 3 bytes and take "lo…" for the
  // start of the next request on its keep-alive connection.
  const upstream = await keep(faultUpstream(answer(200, 'ok')));
  const lb = await keep(serveBalancer({ upstreams: [upstream.url], healthCheck: false }));
  const lenient = http.createServer({ insecureHTTPParser: true }, (req, res) =>
    lb.balancer.handle(req, res),
  );
  await new Promise<void>((resolve) => lenient.listen(0, '127.0.0.1', resolve));
  opened.push({
    close: () =>
      new Promise<void>((resolve) => {
        lenient.close(() => resolve());
        lenient.closeAllConnections();
      }),
  });
  const { port } = lenient.address() as net.AddressInfo;
  const raw = `${POST}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`;
  expect(await rawExchange(`http://127.0.0.1:${port}`, raw)).toBe(200);
  await waitIdle(lb.balancer);
  expect(upstream.requests).toHaveLength(1);
  const [seen] = upstream.requests;
  expect(headerCount(seen!.headers, 'content-length')).toBe(0);
  expect(headerCount(seen!.headers, 'transfer-encoding')).toBe(1);
  expect(seen!.complete).toBe(true);
  expect(seen!.body.toString()).toBe('hello');
});

test('the request target never chooses the address: only configured upstreams are contacted', async () => {
  // A client controls the path and Host, never where the balancer connects: absolute-form
  // targets, authority-looking paths and a Host naming another server all go to the configured
  // upstream (under its base path, as written), and the other server sees no connection.
  const elsewhere = await keep(faultUpstream(answer(200, 'elsewhere')));
  const upstream = await keep(faultUpstream(answer(200, 'ok')));
  const lb = await keep(serveBalancer({ upstreams: [`${upstream.url}/base`], healthCheck: false }));
  const other = `127.0.0.1:${elsewhere.port}`;
  const targets: Array<[string, string]> = [
    [`http://${other}/x`, `/base/http://${other}/x`],
    [`//${other}/x`, `/base//${other}/x`],
    ['/x/../../y', '/base/x/../../y'], // dot segments pass as written: see SECURITY.md
    ['*', '/base/*'],
  ];
  for (const [target, forwarded] of targets) {
    const raw = `GET ${target} HTTP/1.1\r\nHost: ${other}\r\n\r\n`;
    expect(await rawExchange(lb.url, raw)).toBe(200);
    expect(upstream.requests.at(-1)!.target).toBe(forwarded);
  }
  await waitIdle(lb.balancer);
  expect(elsewhere.connections).toBe(0);
});

describe('X-Forwarded-Host and -Proto: a client cannot choose them, a trusted proxy can', () => {
  const claims = {
    host: 'lb.example',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'https',
  };
  type Front = (upstream: string) => Promise<{ url: string; close(): Promise<void> }>;
  const fronts: Array<{ name: string; trusted: boolean; front: Front }> = [
    {
      name: 'plain node:http (createBalancer)',
      trusted: false,
      front: (upstream) => serveBalancer({ upstreams: [upstream], healthCheck: false }),
    },
    ...[false, true].map((trusted) => ({
      name: `Express, trust proxy ${trusted ? "'loopback'" : 'off'}`,
      trusted,
      front: async (upstream: string) => {
        const lb = loadBalance({ upstreams: [upstream], healthCheck: false });
        const app = express();
        if (trusted) app.set('trust proxy', 'loopback');
        const server = await listen(http.createServer(app.use(lb)));
        return { url: urlOf(server), close: async () => (await lb.close(), closeServer(server)) };
      },
    })),
    ...[false, true].map((trusted) => ({
      name: `Koa, app.proxy ${trusted}`,
      trusted,
      front: async (upstream: string) => {
        const lb = koaLoadBalance({ upstreams: [upstream], healthCheck: false });
        const app = new Koa();
        app.proxy = trusted;
        app.use(lb);
        const handle = app.callback();
        const server = await listen(http.createServer((req, res) => void handle(req, res)));
        return { url: urlOf(server), close: async () => (await lb.close(), closeServer(server)) };
      },
    })),
  ];

  test.each(fronts)('$name', async ({ trusted, front }) => {
    const upstream = await keep(echoUpstream('a'));
    const gateway = await keep(front(upstream.url));
    const reply = await send(`${gateway.url}/who`, { headers: claims });
    expect(reply.status).toBe(200);
    const echo = reply.json<Echo>();
    expect(echo.headers['x-forwarded-host']).toBe(trusted ? 'evil.example' : 'lb.example');
    expect(echo.headers['x-forwarded-proto']).toBe(trusted ? 'https' : 'http');
    expect(echo.headers.host).toBe('lb.example');
  });
});
