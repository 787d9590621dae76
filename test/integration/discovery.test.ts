// Service discovery, as the README describes it, end to end: a real DNS server on 127.0.0.1
// answering A and SRV records that point at real upstreams listening on 127.0.0.2, .3, .4 (the
// same port, distinct addresses), and discover() over a list the test changes. Records added,
// removed, changed and expiring reach the pool; failures keep it; in-flight requests to a
// removed address finish; hash keys and sticky sessions survive refreshes; the loop stops with
// close(), the server's 'close' and the signal.

import { spawn } from 'node:child_process';
import http, { type Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  discover,
  dns,
  loadBalance,
  type BalancerEvents,
  type LoadBalancer,
  type Options,
  type UpstreamInput,
} from '../../src';
import { closeServer, listen, send, urlOf, type Reply } from '../helpers/client';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server';
import { sleep, waitFor } from '../helpers/upstreams';

/** Refresh interval of the tests' sources; changes must show within about one of these. */
const INTERVAL = 200;
/** waitFor deadline for "within one interval", with room for a loaded CI machine. */
const WITHIN_INTERVAL = { timeoutMs: INTERVAL + 1800 };

interface HostUpstream {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  inFlight: number;
  requests: number;
  /** Responses to /hold wait here until the test calls release(). */
  release(): void;
  close(): Promise<void>;
}

interface Answer {
  host: string;
  port: number;
  hostHeader: string;
  url: string;
}

/** A real upstream on host:port answering JSON about itself; `/hold` waits for release(). */
async function startAt(host: string, port: number): Promise<HostUpstream> {
  const held: Array<() => void> = [];
  const state = { inFlight: 0, requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    state.inFlight++;
    res.on('close', () => state.inFlight--);
    const answer = (): void => {
      const body: Answer = {
        host,
        port: (server.address() as AddressInfo).port,
        hostHeader: req.headers.host ?? '',
        url: req.url ?? '',
      };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    if (req.url === '/hold') held.push(answer);
    else answer();
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    host,
    port: actual,
    url: `http://${host}:${actual}`,
    get inFlight() {
      return state.inFlight;
    },
    get requests() {
      return state.requests;
    },
    release: () => held.splice(0).forEach((answer) => answer()),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Upstreams on 127.0.0.2 … 127.0.0.(n+1), all on one port, as replicas behind one DNS name. */
async function replicas(n: number): Promise<HostUpstream[]> {
  for (let attempt = 0; ; attempt++) {
    const first = await startAt('127.0.0.2', 0);
    try {
      const rest = [];
      for (let i = 3; i < n + 2; i++) rest.push(await startAt(`127.0.0.${i}`, first.port));
      return [first, ...rest];
    } catch (error) {
      await first.close();
      if (attempt === 5) throw error; // the port was taken on another address: try another
    }
  }
}

let dnsServer: TestDnsServer;
let pool: HostUpstream[]; // 127.0.0.2, .3, .4, .5 on one port
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dnsServer = await startDnsServer();
  pool = await replicas(4);
});

afterAll(async () => {
  await Promise.all(pool.map((u) => u.close()));
  await dnsServer.close();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  dnsServer.mode = 'answer';
});

const addr = (i: 2 | 3 | 4 | 5): string => `127.0.0.${i}`;
const idOf = (i: 2 | 3 | 4 | 5): string => `http://127.0.0.${i}:${pool[0]!.port}`;

/** A balancer on a plain node:http server; closed after the test. */
async function serve(options: Options): Promise<{
  lb: LoadBalancer;
  server: Server;
  get(path?: string, headers?: http.OutgoingHttpHeaders): Promise<Reply>;
}> {
  const lb = loadBalance(options);
  const server = await listen(http.createServer((req, res) => lb(req, res)));
  cleanups.push(
    () => lb.close(),
    () => closeServer(server),
  );
  return {
    lb,
    server,
    get: (path = '/', headers = {}) => send(urlOf(server, path), { headers }),
  };
}

function poolIds(lb: LoadBalancer): string[] {
  return lb
    .stats()
    .upstreams.map((u) => u.id)
    .sort();
}

function errorsOf(lb: LoadBalancer): BalancerEvents['discoveryError'][] {
  const errors: BalancerEvents['discoveryError'][] = [];
  lb.on('discoveryError', (e) => errors.push(e));
  return errors;
}

describe('dns(): the pool follows the A records', () => {
  test('records added, removed and changed reach the pool within one interval', async () => {
    dnsServer.set('users.test', { A: [addr(2), addr(3)] });
    const port = pool[0]!.port;
    const { lb, get } = await serve({
      upstreams: dns(`http://users.test:${port}`, {
        interval: INTERVAL,
        resolver: dnsServer.resolver(),
      }),
      healthCheck: false,
    });
    await lb.balancer.ready();
    expect(poolIds(lb)).toEqual([idOf(2), idOf(3)]);
    const stats = lb.stats().upstreams;
    expect(stats.every((u) => u.source === `dns:http://users.test:${port}`)).toBe(true);
    expect(stats.map((u) => u.url).sort()).toEqual([idOf(2), idOf(3)]);

    const hosts = new Set<string>();
    for (let i = 0; i < 4; i++) hosts.add((await get('/x')).json<Answer>().host);
    expect([...hosts].sort()).toEqual([addr(2), addr(3)]);

    dnsServer.set('users.test', { A: [addr(2), addr(3), addr(4)] }); // added
    await waitFor(() => poolIds(lb).length === 3, { ...WITHIN_INTERVAL, message: 'added' });
    expect(poolIds(lb)).toEqual([idOf(2), idOf(3), idOf(4)]);

    dnsServer.set('users.test', { A: [addr(3), addr(4)] }); // removed
    await waitFor(() => !poolIds(lb).includes(idOf(2)), { ...WITHIN_INTERVAL, message: 'removed' });
    const before = pool[0]!.requests;
    for (let i = 0; i < 6; i++) expect((await get('/x')).status).toBe(200);
    expect(pool[0]!.requests).toBe(before); // 127.0.0.2 gets nothing once it left

    dnsServer.set('users.test', { A: [addr(3), addr(5)] }); // changed: .4 → .5
    await waitFor(() => poolIds(lb).includes(idOf(5)), { ...WITHIN_INTERVAL, message: 'changed' });
    expect(poolIds(lb)).toEqual([idOf(3), idOf(5)]);
  });

  test('a TTL shorter than the interval brings the change sooner', async () => {
    dnsServer.set('ttl.test', { A: [{ address: addr(2), ttl: 1 }] });
    const { lb } = await serve({
      upstreams: dns(`http://ttl.test:${pool[0]!.port}`, {
        interval: 60_000,
        resolver: dnsServer.resolver(),
      }),
      healthCheck: false,
    });
    await lb.balancer.ready();
    expect(poolIds(lb)).toEqual([idOf(2)]);
    dnsServer.set('ttl.test', { A: [{ address: addr(3), ttl: 1 }] });
    // The record expires after 1 s: the lookup comes then, not after the 60 s interval.
    await waitFor(() => poolIds(lb).includes(idOf(3)), { timeoutMs: 4000, message: 'TTL expiry' });
    expect(poolIds(lb)).toEqual([idOf(3)]);
  });

  test.each([
    { mode: 'servfail' as const, cause: 'ESERVFAIL' },
    { mode: 'timeout' as const, cause: 'ETIMEOUT' },
  ])(
    'a resolver answering $mode keeps the pool and emits discoveryError',
    async ({ mode, cause }) => {
      dnsServer.set('fail.test', { A: [addr(2), addr(3)] });
      const port = pool[0]!.port;
      const { lb, get } = await serve({
        upstreams: dns(`http://fail.test:${port}`, {
          interval: INTERVAL,
          timeout: 2000, // the resolver's own 150 ms timeout comes first
          resolver: dnsServer.resolver({ timeout: 150 }),
        }),
        healthCheck: false,
      });
      const errors = errorsOf(lb);
      await lb.balancer.ready();
      dnsServer.mode = mode;
      await waitFor(() => errors.length >= 2, { timeoutMs: 4000, message: 'discoveryError' });
      expect(errors[0]!.source).toBe(`dns:http://fail.test:${port}`);
      expect(errors[0]!.error).toMatchObject({ code: 'ERR_LB_DISCOVERY_FAILED' });
      expect(errors[0]!.error.cause).toMatchObject({ code: cause });
      expect(poolIds(lb)).toEqual([idOf(2), idOf(3)]); // stale beats empty
      expect((await get('/x')).status).toBe(200);

      dnsServer.mode = 'answer';
      dnsServer.set('fail.test', { A: [addr(4)] });
      await waitFor(() => poolIds(lb).join() === idOf(4), { timeoutMs: 4000, message: 'recovery' });
    },
  );

  test('NXDOMAIN keeps the pool, unless the source is authoritative', async () => {
    dnsServer.set('gone.test', { A: [addr(2)] });
    dnsServer.set('gone-auth.test', { A: [addr(2)] });
    const port = pool[0]!.port;
    const resolver = dnsServer.resolver();
    const kept = await serve({
      upstreams: dns(`http://gone.test:${port}`, { interval: INTERVAL, resolver }),
      healthCheck: false,
    });
    const emptied = await serve({
      upstreams: dns(`http://gone-auth.test:${port}`, {
        interval: INTERVAL,
        resolver,
        authoritative: true,
      }),
      healthCheck: false,
    });
    const errors = errorsOf(kept.lb);
    await Promise.all([kept.lb.balancer.ready(), emptied.lb.balancer.ready()]);
    dnsServer.delete('gone.test');
    dnsServer.delete('gone-auth.test');
    await waitFor(() => emptied.lb.stats().upstreams.length === 0, WITHIN_INTERVAL);
    const reply = await emptied.get('/x');
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    await waitFor(() => errors.length > 0, WITHIN_INTERVAL);
    expect(errors[0]!.error).toMatchObject({ code: 'ERR_LB_DISCOVERY_EMPTY' });
    expect(poolIds(kept.lb)).toEqual([idOf(2)]);
    expect((await kept.get('/x')).status).toBe(200);
  });

  test('in-flight requests to a removed address finish; in-flight counts return to 0', async () => {
    dnsServer.set('drain.test', { A: [addr(2)] });
    const { lb, get } = await serve({
      upstreams: dns(`http://drain.test:${pool[0]!.port}`, {
        interval: INTERVAL,
        resolver: dnsServer.resolver(),
      }),
      healthCheck: false,
    });
    await lb.balancer.ready();
    const slow = get('/hold');
    await waitFor(() => pool[0]!.inFlight === 1, { message: 'the request reached 127.0.0.2' });
    expect(lb.stats().upstreams[0]!.activeConnections).toBe(1);

    dnsServer.set('drain.test', { A: [addr(3)] }); // its record goes mid-request
    await waitFor(() => poolIds(lb).join() === idOf(3), WITHIN_INTERVAL);
    expect((await get('/x')).json<Answer>().host).toBe(addr(3)); // new requests go to .3

    pool[0]!.release();
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.json<Answer>().host).toBe(addr(2));
    await waitFor(() => pool[0]!.inFlight === 0, { message: '127.0.0.2 drained' });
    expect(lb.stats().upstreams.map((u) => u.activeConnections)).toEqual([0]);
    expect(lb.stats().failedRequests).toBe(0);
  });

  test('new addresses start unknown and are probed at once', async () => {
    dnsServer.set('probe.test', { A: [addr(2)] });
    const { lb } = await serve({
      upstreams: dns(`http://probe.test:${pool[0]!.port}`, {
        interval: INTERVAL,
        resolver: dnsServer.resolver(),
      }),
      healthCheck: { interval: 60_000 }, // only the first, immediate probe can make it healthy
    });
    await waitFor(() => lb.stats().upstreams[0]?.health === 'healthy', { message: 'probed' });
    dnsServer.set('probe.test', { A: [addr(2), addr(3)] });
    await waitFor(() => lb.stats().upstreams.length === 2, WITHIN_INTERVAL);
    await waitFor(() => lb.stats().upstreams.every((u) => u.health === 'healthy'), {
      message: 'the new address probed at once',
    });
  });

  test('with changeOrigin, Host is the name the addresses were found under', async () => {
    dnsServer.set('origin.test', { A: [addr(2)] });
    const port = pool[0]!.port;
    const options = (changeOrigin: boolean): Options => ({
      upstreams: dns(`http://origin.test:${port}`, {
        interval: INTERVAL,
        resolver: dnsServer.resolver(),
      }),
      healthCheck: false,
      changeOrigin,
    });
    const changed = await serve(options(true));
    const kept = await serve(options(false));
    await Promise.all([changed.lb.balancer.ready(), kept.lb.balancer.ready()]);
    expect((await changed.get('/x')).json<Answer>().hostHeader).toBe(`origin.test:${port}`);
    const client = `127.0.0.1:${(kept.server.address() as AddressInfo).port}`;
    expect((await kept.get('/x')).json<Answer>().hostHeader).toBe(client);
  });

  test('a host that is already an IP address is one upstream, with no DNS query', async () => {
    const { lb, get } = await serve({
      upstreams: dns(pool[1]!.url, { interval: INTERVAL, resolver: dnsServer.resolver() }),
      healthCheck: false,
    });
    await lb.balancer.ready();
    expect(poolIds(lb)).toEqual([idOf(3)]);
    expect((await get('/x')).json<Answer>().host).toBe(addr(3));
  });
});

describe('dns({ srv: true })', () => {
  test('SRV records give each upstream its port and weight; weight changes apply', async () => {
    const a = await startAt('127.0.0.1', 0);
    const b = await startAt('127.0.0.1', 0);
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const srv = (weightB: number): void =>
      dnsServer.set('_http._tcp.api.test', {
        SRV: [
          { target: 'a.api.test', port: a.port, priority: 10, weight: 3 },
          { target: 'b.api.test', port: b.port, priority: 10, weight: weightB },
          { target: 'a.api.test', port: 1, priority: 20, weight: 100 }, // backup: not used
        ],
      });
    dnsServer.set('a.api.test', { A: ['127.0.0.1'] });
    dnsServer.set('b.api.test', { A: ['127.0.0.1'] });
    srv(1);
    const { lb, get } = await serve({
      upstreams: dns('http://_http._tcp.api.test', {
        srv: true,
        interval: INTERVAL,
        resolver: dnsServer.resolver(),
      }),
      algorithm: 'weighted-round-robin',
      healthCheck: false,
    });
    await lb.balancer.ready();
    const weights = (): Record<string, number> =>
      Object.fromEntries(lb.stats().upstreams.map((u) => [u.id, u.weight]));
    expect(weights()).toEqual({ [a.url]: 3, [b.url]: 1 });
    expect(lb.stats().upstreams[0]!.source).toBe('dns-srv:http://_http._tcp.api.test');

    const counts = new Map<number, number>();
    for (let i = 0; i < 8; i++) {
      const port = (await get('/x')).json<Answer>().port;
      counts.set(port, (counts.get(port) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ [a.port]: 6, [b.port]: 2 });

    srv(3);
    await waitFor(() => weights()[b.url] === 3, { ...WITHIN_INTERVAL, message: 'new weight' });
    expect(weights()).toEqual({ [a.url]: 3, [b.url]: 3 });
  });
});

describe('discover(): any source', () => {
  test('a changing list, a thrown error, bad entries and an empty answer', async () => {
    let answer: () => UpstreamInput[] = () => [pool[0]!.url, pool[1]!.url];
    let calls = 0;
    const { lb, get } = await serve({
      upstreams: discover(
        () => {
          calls++;
          return answer();
        },
        { interval: INTERVAL, name: 'registry' },
      ),
      healthCheck: false,
    });
    const errors = errorsOf(lb);
    await lb.balancer.ready();
    expect(poolIds(lb)).toEqual([idOf(2), idOf(3)]);
    expect(lb.stats().upstreams.every((u) => u.source === 'registry')).toBe(true);

    answer = () => [pool[1]!.url, { url: pool[2]!.url, weight: 2 }];
    await waitFor(() => poolIds(lb).join() === [idOf(3), idOf(4)].join(), WITHIN_INTERVAL);

    answer = () => {
      throw new Error('registry unreachable');
    };
    await waitFor(() => errors.length > 0, WITHIN_INTERVAL);
    expect(errors[0]).toMatchObject({
      source: 'registry',
      error: {
        code: 'ERR_LB_DISCOVERY_FAILED',
        message: expect.stringMatching(/registry unreachable/),
      },
    });
    expect(poolIds(lb)).toEqual([idOf(3), idOf(4)]);
    expect((await get('/x')).status).toBe(200);

    errors.length = 0;
    answer = () => [];
    const seen = calls;
    await waitFor(() => calls > seen + 1 && errors.length > 0, WITHIN_INTERVAL);
    expect(errors[0]!.error).toMatchObject({ code: 'ERR_LB_DISCOVERY_EMPTY' });
    expect(poolIds(lb)).toEqual([idOf(3), idOf(4)]); // not authoritative: kept

    errors.length = 0;
    answer = () => [pool[3]!.url, 'not a url', { url: pool[2]!.url, weight: 0 }];
    await waitFor(() => poolIds(lb).join() === idOf(5), WITHIN_INTERVAL);
    expect(errors.map((e) => e.error).slice(0, 2)).toMatchObject([
      { code: 'ERR_LB_DISCOVERY_BAD_ENTRY', message: expect.stringMatching(/answer\[1\]/) },
      { code: 'ERR_LB_DISCOVERY_BAD_ENTRY', message: expect.stringMatching(/answer\[2\]\.weight/) },
    ]);
  });

  test('an authoritative empty list empties the pool: 503 until upstreams come back', async () => {
    let list: UpstreamInput[] = [pool[0]!.url];
    const { lb, get } = await serve({
      upstreams: discover(() => list, { interval: INTERVAL, authoritative: true }),
      healthCheck: false,
    });
    await lb.balancer.ready();
    list = [];
    await waitFor(() => lb.stats().upstreams.length === 0, WITHIN_INTERVAL);
    expect((await get('/x')).status).toBe(503);
    list = [pool[1]!.url];
    await waitFor(() => lb.stats().upstreams.length === 1, WITHIN_INTERVAL);
    expect((await get('/x')).json<Answer>().host).toBe(addr(3));
  });

  test('a source that hangs is cut off by timeout, its signal aborted, the pool kept', async () => {
    let hang = false;
    const signals: AbortSignal[] = [];
    const { lb } = await serve({
      upstreams: discover(
        ({ signal }) => {
          signals.push(signal);
          return hang ? new Promise<UpstreamInput[]>(() => {}) : [pool[0]!.url];
        },
        { interval: INTERVAL, timeout: 100 },
      ),
      healthCheck: false,
    });
    const errors = errorsOf(lb);
    await lb.balancer.ready();
    hang = true;
    await waitFor(() => errors.length > 0, WITHIN_INTERVAL);
    expect(errors[0]!.error).toMatchObject({ code: 'ERR_LB_DISCOVERY_TIMEOUT' });
    expect(signals.at(-1)!.aborted).toBe(true);
    expect(poolIds(lb)).toEqual([idOf(2)]);
  });

  test('before the first answer requests get 503; ready() resolves once it is applied', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { lb, get } = await serve({
      upstreams: discover(
        async () => {
          await gate;
          return [pool[0]!.url];
        },
        { interval: INTERVAL },
      ),
      healthCheck: false,
    });
    expect((await get('/x')).status).toBe(503);
    let ready = false;
    void lb.balancer.ready().then(() => (ready = true));
    await sleep(30);
    expect(ready).toBe(false);
    open();
    await lb.balancer.ready();
    expect((await get('/x')).status).toBe(200);
  });
});

describe('hash keys and sticky sessions survive refreshes', () => {
  test('consistent hashing: a refresh that does not touch a key’s upstream keeps the key', async () => {
    let list: UpstreamInput[] = [pool[0]!.url, pool[1]!.url, pool[2]!.url];
    const { lb, get } = await serve({
      upstreams: discover(() => list, { interval: INTERVAL }),
      algorithm: 'hash',
      hashKey: 'header:x-user',
      healthCheck: false,
    });
    await lb.balancer.ready();
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const where = async (): Promise<Map<string, string>> => {
      const map = new Map<string, string>();
      for (const user of users)
        map.set(user, (await get('/x', { 'x-user': user })).json<Answer>().host);
      return map;
    };
    const before = await where();
    expect(new Set(before.values()).size).toBe(3);

    list = [pool[0]!.url, pool[1]!.url]; // .4 leaves
    await waitFor(() => lb.stats().upstreams.length === 2, WITHIN_INTERVAL);
    const after = await where();
    for (const user of users) {
      if (before.get(user) !== addr(4)) expect(after.get(user)).toBe(before.get(user));
      else expect(after.get(user)).not.toBe(addr(4));
    }

    list = [pool[0]!.url, pool[1]!.url, pool[3]!.url]; // .5 joins
    await waitFor(() => lb.stats().upstreams.length === 3, WITHIN_INTERVAL);
    const joined = await where();
    for (const user of users) {
      if (joined.get(user) !== addr(5)) expect(joined.get(user)).toBe(after.get(user));
    }
  });

  test('sticky cookies: clients stay pinned across refreshes; a client of a removed upstream moves', async () => {
    dnsServer.set('sticky.test', { A: [addr(2), addr(3), addr(4)] });
    const { lb, get } = await serve({
      upstreams: dns(`http://sticky.test:${pool[0]!.port}`, {
        interval: INTERVAL,
        resolver: dnsServer.resolver(),
      }),
      sticky: { secret: 'k' },
      healthCheck: false,
    });
    await lb.balancer.ready();
    const clients: Array<{ cookie: string; host: string }> = [];
    for (let i = 0; i < 6; i++) {
      const reply = await get('/x');
      const cookie = (reply.headers['set-cookie'] ?? []).find((c) => c.startsWith('lb='))!;
      clients.push({ cookie: cookie.split(';')[0]!, host: reply.json<Answer>().host });
    }
    expect(new Set(clients.map((c) => c.host)).size).toBe(3);

    dnsServer.set('sticky.test', { A: [addr(2), addr(3), addr(5)] }); // .4 out, .5 in
    await waitFor(() => poolIds(lb).includes(idOf(5)), WITHIN_INTERVAL);
    for (const client of clients) {
      const reply = await get('/x', { cookie: client.cookie });
      const host = reply.json<Answer>().host;
      if (client.host === addr(4)) {
        expect(host).not.toBe(addr(4));
        expect(reply.headers['set-cookie']?.some((c) => c.startsWith('lb='))).toBe(true);
      } else {
        expect(host).toBe(client.host);
        expect(reply.headers['set-cookie']).toBeUndefined(); // the pin is still valid
      }
    }
  });
});

describe('lifecycle', () => {
  function counting(): { calls: () => number; source: Options['upstreams'] } {
    let calls = 0;
    return {
      calls: () => calls,
      source: discover(
        () => {
          calls++;
          return [pool[0]!.url];
        },
        { interval: 50 },
      ),
    };
  }

  async function stopsPolling(calls: () => number): Promise<void> {
    await sleep(20); // a refresh that was already under way may still finish
    const settled = calls();
    await sleep(250);
    expect(calls()).toBe(settled);
  }

  test('close() stops the refreshes', async () => {
    const { calls, source } = counting();
    const lb = loadBalance({ upstreams: source, healthCheck: false });
    await waitFor(() => calls() >= 2);
    await lb.close();
    await stopsPolling(calls);
  });

  test("the server's 'close' stops the refreshes", async () => {
    const { calls, source } = counting();
    const lb = loadBalance({ upstreams: source, healthCheck: false });
    cleanups.push(() => lb.close());
    const server = await listen(http.createServer((req, res) => lb(req, res)));
    lb.attach(server);
    await waitFor(() => calls() >= 2);
    await closeServer(server);
    await stopsPolling(calls);
  });

  test('aborting the signal stops the refreshes', async () => {
    const { calls, source } = counting();
    const controller = new AbortController();
    const lb = loadBalance({ upstreams: source, healthCheck: false, signal: controller.signal });
    cleanups.push(() => lb.close());
    await waitFor(() => calls() >= 2);
    controller.abort();
    await stopsPolling(calls);
  });

  test('the refresh timers never keep a process alive: one that never closes still exits', async () => {
    const root = path.resolve(__dirname, '../..');
    const script = `
      const { loadBalance, discover } = require(${JSON.stringify(path.join(root, 'src/index.ts'))});
      let calls = 0;
      const lb = loadBalance({
        upstreams: discover(async () => { calls++; return ['http://127.0.0.1:1']; }, { interval: 50 }),
        healthCheck: false,
      });
      // The only ref'd timer: once it has fired, nothing should hold the process.
      setTimeout(() => console.log('refreshed ' + calls + ' times, pool ' + lb.stats().upstreams.length), 300);
    `;
    const child = spawn(
      process.execPath,
      ['-r', path.join(root, 'test/helpers/ts-register.js'), '-e', script],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the child did not exit by itself within 20 s'));
      }, 20_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code).toBe(0);
    expect(output).toMatch(/refreshed ([2-9]|\d\d+) times, pool 1/);
  });
});

describe('the example: examples/discovery-gateway.ts with DISCOVERY=demo', () => {
  test('serves from a pool that follows the demo registry, prints changes, exits 0 on SIGTERM', async () => {
    const root = path.resolve(__dirname, '../..');
    const child = spawn(
      process.execPath,
      [
        '-r',
        path.join(root, 'test/helpers/ts-register.js'),
        path.join(root, 'examples/discovery-gateway.ts'),
      ],
      {
        env: { ...process.env, PORT: '0', DISCOVERY: 'demo', DEMO_CHURN_MS: '300' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    const message = (what: string): string => `${what}; output so far:\n${output}`;
    await waitFor(() => /discovery gateway on http:\/\/localhost:\d+/.test(output), {
      timeoutMs: 20_000,
      message: message('the gateway started'),
    });
    const base = /discovery gateway on (http:\/\/localhost:\d+)/.exec(output)![1]!;
    await waitFor(() => /\[pool\] [1-4] upstream/.test(output), {
      timeoutMs: 5000,
      message: message('the first pool'),
    });
    const reply = await send(`${base}/api/users`);
    expect(reply.status).toBe(200);
    expect(reply.json<{ service: string }>().service).toBe('users');
    // The registry changes every 300 ms and discovery follows within its 1 s interval.
    await waitFor(() => (output.match(/\[pool\]/g) ?? []).length >= 2, {
      timeoutMs: 8000,
      message: message('a pool change'),
    });
    expect(output).toMatch(/registry: users-\d (joined|left)/);
    const stats = (await send(`${base}/_stats`)).json<{ upstreams: Array<{ source: string }> }>();
    expect(stats.upstreams.every((u) => u.source === 'demo-registry')).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('stopped');
  });
});
