// Several balancer instances, each in its own process, sharing sticky sessions through a real
// redis-server: a session cookie issued by one instance routes to the same upstream on the other,
// and when Redis dies requests are still answered (balanced, not pinned) and 'storeError' fires,
// until Redis is back on the same port and the instances' clients have reconnected by themselves.
// The instances are test/helpers/redis-gateway-child.ts; the upstreams are real servers here.
// What is in Redis is read over a raw socket, not through the store under test.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Echo } from '../helpers/echo';
import { echoUpstream } from '../helpers/echo';
import { send, type Reply } from '../helpers/client';
import {
  describeWithRedis,
  rawCommand,
  startRedisServer,
  type RedisServer,
} from '../helpers/redis-server';
import { waitFor, type TestUpstream } from '../helpers/upstreams';

const ROOT = path.resolve(__dirname, '../..');
const REGISTER = path.join(ROOT, 'test/helpers/ts-register.js');
const CHILD = path.join(ROOT, 'test/helpers/redis-gateway-child.ts');
const PREFIX = 'lb:sess:'; // RedisSessionStore's default, which the child uses
// The balancer itself waits at most 1 s for store.get(); a store bound as long keeps a busy test
// machine from timing out healthy commands, and a dead Redis fails at once anyway.
const COMMAND_TIMEOUT = 1_000;

interface ChildEvent {
  event: string;
  port?: number;
  code?: string;
  message?: string;
}

interface Gateway {
  readonly name: string;
  readonly url: string;
  /** Everything the child reported after 'listening'. */
  readonly events: ChildEvent[];
  stop(): Promise<void>;
}

/** Spawns one balancer process and resolves once it listens (a cold start compiles src/). */
async function startGateway(name: string, upstreams: string[], redisUrl: string): Promise<Gateway> {
  const child: ChildProcess = spawn(process.execPath, ['-r', REGISTER, CHILD], {
    cwd: ROOT,
    env: {
      ...process.env,
      LB_UPSTREAMS: JSON.stringify(upstreams),
      REDIS_URL: redisUrl,
      LB_COMMAND_TIMEOUT: String(COMMAND_TIMEOUT),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const events: ChildEvent[] = [];
  let port: number | undefined;
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let parsed: ChildEvent;
    try {
      parsed = JSON.parse(line) as ChildEvent;
    } catch {
      return; // not ours
    }
    if (parsed.event === 'listening') port = parsed.port;
    else events.push(parsed);
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end(); // the child's own signal to close everything and exit
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(killer);
      }
      lines.close();
    })();
    return stopping;
  };
  try {
    await waitFor(() => port !== undefined || child.exitCode !== null, {
      timeoutMs: 30_000,
      intervalMs: 25,
      message: `gateway ${name} listening`,
    });
    if (port === undefined) throw new Error(`gateway ${name} exited with ${child.exitCode}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { name, url: `http://127.0.0.1:${port}`, events, stop };
}

/** Polls an async check until it holds or the deadline passes (then throws). */
async function eventually(
  check: () => Promise<boolean>,
  { timeoutMs = 20_000, message = 'condition' } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${message} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The `lb=<value>` pair of the balancer's Set-Cookie, if the reply has one. */
function balancerCookie(reply: Reply): string | undefined {
  const header = (reply.headers['set-cookie'] ?? []).find((c) => c.startsWith('lb='));
  return header?.split(';')[0];
}

/** The session id in a store-mode cookie: the value's head, before the expiry. */
function sessionIdOf(cookie: string): string {
  return cookie.slice('lb='.length).split('.')[0]!;
}

describeWithRedis('balancer instances in separate processes sharing sessions through Redis', () => {
  let redis: RedisServer;
  let upstreams: TestUpstream[];
  let urlOf: Map<string, string>;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    upstreams = await Promise.all(['u1', 'u2', 'u3'].map((name) => echoUpstream(name)));
    urlOf = new Map(['u1', 'u2', 'u3'].map((name, i) => [name, upstreams[i]!.url]));
    const list = upstreams.map((u) => u.url);
    [a, b] = await Promise.all([
      startGateway('A', list, redis.url),
      startGateway('B', list, redis.url),
    ]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all((upstreams ?? []).map((u) => u.close()));
    await redis?.stop();
  });

  /** A new session on `gateway`: its cookie and upstream, once Redis holds the pin. */
  async function newSession(
    gateway: Gateway,
    timeoutMs = 10_000,
  ): Promise<{ cookie: string; home: string }> {
    const first = await send(`${gateway.url}/x`);
    expect(first.status).toBe(200);
    const cookie = balancerCookie(first);
    expect(cookie).toBeDefined();
    const home = first.json<Echo>().name;
    // The store write is fire-and-forget: wait until it has landed before asking the other one.
    const key = PREFIX + sessionIdOf(cookie!);
    await eventually(async () => (await rawCommand(redis.port, ['GET', key])) === urlOf.get(home), {
      timeoutMs,
      message: `session pinned to ${home} in Redis`,
    });
    return { cookie: cookie!, home };
  }

  async function namesFrom(gateway: Gateway, count: number, cookie?: string): Promise<string[]> {
    const names: string[] = [];
    for (let i = 0; i < count; i++) {
      const reply = await send(`${gateway.url}/x`, {
        headers: cookie ? { cookie } : {},
      });
      expect(reply.status).toBe(200);
      names.push(reply.json<Echo>().name);
    }
    return names;
  }

  test('without a cookie each instance balances over every upstream', async () => {
    for (const gateway of [a, b]) {
      expect(new Set(await namesFrom(gateway, 6)).size).toBe(3);
    }
  });

  test('a cookie issued by one instance routes to the same upstream on the other', async () => {
    for (const [issuer, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const { cookie, home } = await newSession(issuer);
      const reply = await send(`${other.url}/x`, { headers: { cookie } });
      expect(reply.json<Echo>().name).toBe(home);
      // The session is honoured as it is: no new cookie from the other instance.
      expect(balancerCookie(reply)).toBeUndefined();
      expect(await namesFrom(other, 8, cookie)).toEqual(Array(8).fill(home));
      expect(await namesFrom(issuer, 4, cookie)).toEqual(Array(4).fill(home));
    }
  });

  test('Redis killed: requests are still answered and storeError fires; after a restart sessions stick again', async () => {
    const before = await newSession(a);
    a.events.length = 0;
    b.events.length = 0;

    await redis.kill();
    for (const gateway of [a, b]) {
      const names: string[] = [];
      for (let i = 0; i < 6; i++) {
        const started = Date.now();
        const reply = await send(`${gateway.url}/x`, { headers: { cookie: before.cookie } });
        // Bounded by the store's commandTimeout, far under this; a hang would take jest's 30 s.
        expect(Date.now() - started).toBeLessThan(COMMAND_TIMEOUT + 4_000);
        expect(reply.status).toBe(200);
        names.push(reply.json<Echo>().name);
      }
      // Balanced, not pinned: round robin spreads the same cookie over the upstreams.
      expect(new Set(names).size).toBeGreaterThan(1);
    }
    await waitFor(() => a.events.length > 0 && b.events.length > 0, {
      timeoutMs: 10_000,
      message: 'storeError reported by both instances',
    });
    for (const event of [...a.events, ...b.events]) {
      expect(event.event).toBe('storeError');
      expect(event.code).toMatch(/^ERR_LB_(REDIS|SESSION_STORE)_/);
    }

    await redis.restart(); // same port, empty: nothing was persisted
    // Each instance's client reconnects by itself; then new sessions are shared again.
    await eventually(
      async () => {
        const { cookie, home } = await newSession(a, 2_000);
        const names = await namesFrom(b, 4, cookie);
        return names.every((name) => name === home);
      },
      { message: 'a new session from A sticks on B after the restart' },
    );
    await eventually(
      async () => {
        const { cookie, home } = await newSession(b, 2_000);
        const names = await namesFrom(a, 4, cookie);
        return names.every((name) => name === home);
      },
      { message: 'a new session from B sticks on A after the restart' },
    );
  });
});
