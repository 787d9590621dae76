// Runs the SessionStore contract on RedisSessionStore against a real redis-server, through each
// kind of client it accepts (ioredis, node-redis, and its own from { url }), then checks what only
// the Redis store promises: keys under the prefix with Redis-kept expiry, commandTimeout bounding a
// frozen Redis (SIGSTOP, resumed in finally), reconnecting after a restart, close() ownership, and
// option checks. No mocks: the few hand-written clients below are the "any object with
// sendCommand(args)" that users may pass, and they stand in for no library.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import {
  DEFAULT_PREFIX,
  RedisSessionStore,
  RedisSessionStoreError,
  type RedisSessionStoreOptions,
} from 'loadbalance-middleware/redis';
import { MAX_PENDING_COMMANDS } from '../../../src/session/redis-session-store';
import { runSessionStoreContract } from '../../contract/session-store.contract';
import { describeWithRedis, startRedisServer, type RedisServer } from '../../helpers/redis-server';

type NodeRedis = ReturnType<typeof createClient>;
type Kind = 'ioredis' | 'node-redis' | 'url';
const KINDS: Kind[] = ['ioredis', 'node-redis', 'url'];

/** Polls an async check until it holds or the deadline passes (then throws). */
async function eventually(
  check: () => Promise<boolean>,
  { timeoutMs = 15_000, message = 'condition' } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${message} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** QUIT and wait for the socket to close, so no ioredis timer outlives the test. */
async function quitIoredis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    await client.quit().catch(() => undefined);
    await ended;
    return;
  }
  // Reconnecting after an outage test: disconnect() never emits 'end' then, and leaves a
  // disconnectTimeout (0 here) timer behind: wait past it.
  client.disconnect();
  await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Connected and answering: a short commandTimeout may miss once on a busy machine, so retry. */
async function warmUp(store: RedisSessionStore): Promise<void> {
  await eventually(
    async () => {
      await store.set('warm', 'upstream-w', 60_000);
      return true;
    },
    { message: 'the store answers' },
  );
}

/** Clients connected to one redis-server, and stores over them; everything closed in afterAll. */
function redisFixture(): {
  server: () => RedisServer;
  io: () => Redis;
  node: () => NodeRedis;
  store: (
    kind: Kind,
    extra?: Omit<RedisSessionStoreOptions, 'url' | 'client'>,
  ) => RedisSessionStore;
} {
  let server: RedisServer | undefined;
  let io: Redis | undefined;
  let node: NodeRedis | undefined;
  const stores: RedisSessionStore[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    io = new Redis(server.url, { disconnectTimeout: 0 });
    io.on('error', () => undefined); // outage tests drop connections on purpose
    node = createClient({ url: server.url });
    node.on('error', () => undefined);
    await node.connect();
  });

  afterEach(async () => {
    server?.resume();
    for (const store of stores.splice(0)) await store.close();
  });

  afterAll(async () => {
    if (io) await quitIoredis(io);
    node?.destroy();
    await server?.stop();
  });

  return {
    server: () => server!,
    io: () => io!,
    node: () => node!,
    store: (kind, extra = {}) => {
      // A generous bound unless a test sets its own: on two busy cores a burst of 50 commands
      // can take longer than the 500 ms default, and these tests are about answers, not speed.
      const options = { commandTimeout: 5_000, ...extra };
      const store =
        kind === 'url'
          ? new RedisSessionStore({ url: server!.url, ...options })
          : new RedisSessionStore({ client: kind === 'ioredis' ? io! : node!, ...options });
      stores.push(store);
      return store;
    },
  };
}

describeWithRedis('RedisSessionStore on a real redis-server', () => {
  const fx = redisFixture();

  runSessionStoreContract('RedisSessionStore with an ioredis client', () => fx.store('ioredis'));
  runSessionStoreContract('RedisSessionStore with a node-redis client', () =>
    fx.store('node-redis'),
  );
  runSessionStoreContract('RedisSessionStore from { url }', () => fx.store('url'));

  test('keys live under the prefix, with the expiry kept by Redis', async () => {
    const prefix = `test:${randomUUID().slice(0, 8)}:`;
    const store = fx.store('ioredis', { prefix });
    await store.set('abc', 'upstream-1', 1_000);
    const raw = fx.io();
    expect(await raw.get(`${prefix}abc`)).toBe('upstream-1');
    expect(await raw.exists('abc')).toBe(0);
    const pttl = await raw.pttl(`${prefix}abc`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(1_000);
    // touch is PEXPIRE: the same key, a new expiry from now.
    await store.touch('abc', 60_000);
    expect(await raw.pttl(`${prefix}abc`)).toBeGreaterThan(1_000);
    await store.delete('abc');
    expect(await raw.exists(`${prefix}abc`)).toBe(0);
  });

  test(`the default prefix is ${JSON.stringify(DEFAULT_PREFIX)}`, async () => {
    const store = fx.store('node-redis');
    const id = `default-${randomUUID()}`;
    await store.set(id, 'upstream-1', 60_000);
    expect(await fx.io().get(`${DEFAULT_PREFIX}${id}`)).toBe('upstream-1');
    await store.delete(id);
  });

  test('a plain object with sendCommand(args) is a client', async () => {
    const node = fx.node();
    const store = new RedisSessionStore({
      client: { sendCommand: (args: string[]) => node.sendCommand(args) },
      commandTimeout: 5_000,
    });
    await store.set('plain', 'upstream-p', 60_000);
    expect(await store.get('plain')).toBe('upstream-p');
    await store.delete('plain');
    await store.close();
  });

  test('close() leaves a client you passed open, and the store then rejects', async () => {
    const store = new RedisSessionStore({ client: fx.io() });
    await store.close();
    await store.close();
    expect(await fx.io().ping()).toBe('PONG');
    await expect(store.get('x')).rejects.toMatchObject({ code: 'ERR_LB_REDIS_CLOSED' });
  });

  test('close() quits the client the store made from { url }', async () => {
    const connected = async (): Promise<number> => {
      const info = await fx.io().info('clients');
      return Number(/connected_clients:(\d+)/.exec(info)![1]);
    };
    const before = await connected();
    const store = new RedisSessionStore({ url: fx.server().url, commandTimeout: 5_000 });
    await store.set('owned', 'upstream-o', 60_000);
    expect(await connected()).toBe(before + 1);
    await store.close();
    await eventually(async () => (await connected()) === before, {
      message: 'the store’s connection closed',
    });
    await store.close(); // idempotent
  });
});

describeWithRedis('RedisSessionStore when Redis hangs or goes away', () => {
  const fx = redisFixture();

  test.each(KINDS)(
    '%s: commandTimeout bounds every command while Redis is frozen',
    async (kind) => {
      const commandTimeout = 300;
      const store = fx.store(kind, { commandTimeout });
      await warmUp(store);
      fx.server().pause();
      let elapsed: number;
      let results: PromiseSettledResult<unknown>[];
      try {
        const started = Date.now();
        results = await Promise.allSettled([
          store.get('h'),
          store.set('h', 'upstream-b', 60_000),
          store.touch('h', 60_000),
          store.delete('h'),
        ]);
        elapsed = Date.now() - started;
      } finally {
        fx.server().resume();
      }
      for (const result of results) {
        expect(result).toMatchObject({
          status: 'rejected',
          reason: { code: 'ERR_LB_REDIS_TIMEOUT' },
        });
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(RedisSessionStoreError);
      }
      // Redis stayed frozen until resume(), so only the store's own bound can have ended these.
      expect(elapsed).toBeLessThan(commandTimeout + 3_000);
      await eventually(
        async () => {
          await store.get('h');
          return true;
        },
        { message: 'the store answers again after SIGCONT' },
      );
    },
  );

  test('{ url }: a killed Redis fails commands fast; after a restart the client reconnects', async () => {
    const commandTimeout = 300;
    const store = fx.store('url', { commandTimeout });
    await warmUp(store);
    await fx.server().kill();
    const started = Date.now();
    await expect(store.get('k')).rejects.toBeInstanceOf(RedisSessionStoreError);
    expect(Date.now() - started).toBeLessThan(commandTimeout + 3_000);
    await fx.server().restart();
    await eventually(
      async () => {
        await store.set('k2', 'upstream-b', 60_000);
        return (await store.get('k2')) === 'upstream-b';
      },
      { message: 'the url client reconnected by itself' },
    );
  });

  test('{ url }: Redis down when the store is created; it connects once Redis is back', async () => {
    await fx.server().kill();
    const store = fx.store('url', { commandTimeout: 300 });
    await expect(store.get('s')).rejects.toBeInstanceOf(RedisSessionStoreError);
    await fx.server().restart();
    await eventually(
      async () => {
        await store.set('s', 'upstream-s', 60_000);
        return (await store.get('s')) === 'upstream-s';
      },
      { message: 'the url client connected after a late start' },
    );
  });
});

describe('RedisSessionStore with clients that misbehave (no Redis needed)', () => {
  test('a client that throws synchronously makes the call reject, never throw', async () => {
    const store = new RedisSessionStore({
      client: {
        sendCommand: () => {
          throw new Error('boom');
        },
      },
    });
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = store.get('x');
    }).not.toThrow();
    await expect(pending).rejects.toMatchObject({
      code: 'ERR_LB_REDIS_FAILED',
      cause: { message: 'boom' },
    });
    await store.close();
  });

  test('a client that never answers is bounded by commandTimeout', async () => {
    const store = new RedisSessionStore({
      client: { sendCommand: () => new Promise(() => undefined) },
      commandTimeout: 100,
    });
    const started = Date.now();
    await expect(store.set('x', 'upstream-a', 1_000)).rejects.toMatchObject({
      code: 'ERR_LB_REDIS_TIMEOUT',
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    await store.close();
  });

  test(`past ${MAX_PENDING_COMMANDS} unanswered commands the store fails fast`, async () => {
    const store = new RedisSessionStore({
      client: { sendCommand: () => new Promise(() => undefined) },
      commandTimeout: 200,
    });
    const waiting = Array.from({ length: MAX_PENDING_COMMANDS }, (_, i) => store.get(`id${i}`));
    await expect(store.get('one-more')).rejects.toMatchObject({ code: 'ERR_LB_REDIS_BUSY' });
    const settled = await Promise.allSettled(waiting);
    expect(settled.every((r) => r.status === 'rejected')).toBe(true);
    await store.close();
  });

  test('bad ttls and ids reject; over-long ids are never sent', async () => {
    const sent: string[][] = [];
    const store = new RedisSessionStore({
      client: {
        sendCommand: (args: string[]) => {
          sent.push(args);
          return Promise.resolve(null);
        },
      },
    });
    await expect(store.set('a', 'u', 0)).rejects.toBeInstanceOf(RangeError);
    await expect(store.touch('a', Number.NaN)).rejects.toBeInstanceOf(RangeError);
    await expect(store.set('x'.repeat(257), 'u', 1_000)).rejects.toBeInstanceOf(RangeError);
    expect(await store.get('x'.repeat(257))).toBeUndefined();
    await store.set('a', 'u', 1.5);
    expect(sent).toEqual([['SET', `${DEFAULT_PREFIX}a`, 'u', 'PX', '2']]);
    await store.close();
  });

  test.each([
    ['no url and no client', {}, /exactly one of url and client/],
    ['both url and client', { url: 'redis://127.0.0.1', client: { sendCommand: () => 1 } }, /both/],
    ['a url that is not redis://', { url: 'http://x' }, /redis:\/\//],
    ['a client with neither call nor sendCommand', { client: {} }, /sendCommand/],
    ['a bad commandTimeout', { url: 'redis://127.0.0.1', commandTimeout: 0 }, /commandTimeout/],
    ['a prefix that is not a string', { url: 'redis://127.0.0.1', prefix: 1 }, /prefix/],
    ['an unknown option', { url: 'redis://127.0.0.1', ttl: 5 }, /no option "ttl"/],
  ])('%s throws an OptionsError', (_name, options, pattern) => {
    expect(() => new RedisSessionStore(options as RedisSessionStoreOptions)).toThrow(pattern);
  });

  test('a url never appears in an error (it may carry a password)', () => {
    expect(() => new RedisSessionStore({ url: 'http://user:hunter2@x' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
    );
  });

  test('a store from { url } that is never used closes cleanly', async () => {
    const store = new RedisSessionStore({ url: 'redis://127.0.0.1:1' });
    await store.close();
    await store.close();
  });
});
