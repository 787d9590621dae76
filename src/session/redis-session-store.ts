// Owns RedisSessionStore: the sticky session table in Redis, shared by every balancer instance
// that points at the same Redis and prefix. One key per session (`prefix + id`), holding the
// upstream id, with a sliding ttl kept by Redis itself (SET … PX, PEXPIRE): no sweeping here.
// Every command goes through one `send(args)` path that bounds it by `commandTimeout`, so a slow
// or dead Redis costs a request at most that long. It must never hang, never throw synchronously
// from a store method, and never put a session id in an error message. It knows nothing of
// cookies or upstream health; the balancer turns its rejections into 'storeError' and "no pin".

import { OptionsError } from '../errors';
import type { SessionStore } from './session-store';
import { checkSessionId, checkTtl, isStorableId } from './session-id';
import { describe } from '../options';

/** node-redis v4+ (`createClient()`), or any client taking a whole command as one array. */
export interface RedisSendCommandClient {
  sendCommand(args: string[]): unknown;
}

/** ioredis (`new Redis()` or `new Cluster()`): commands through `call(name, ...args)`. */
export interface RedisCallClient {
  call(command: string, ...args: string[]): PromiseLike<unknown>;
}

/** A Redis client the store can drive; it stays the caller's to connect and to quit. */
export type RedisClientLike = RedisSendCommandClient | RedisCallClient;

interface CommonOptions {
  /** Prefix of every key the store writes. Default 'lb:sess:'. */
  prefix?: string;
  /** ms a command may take before it is rejected (Redis slow, stopped or unreachable). Default 500. */
  commandTimeout?: number;
}

export type RedisSessionStoreOptions = CommonOptions &
  (
    | {
        /** `redis://[user:pass@]host:port[/db]` or `rediss://…`: the store creates (and closes) an ioredis client. */
        url: string;
        client?: undefined;
      }
    | {
        /** Your client: ioredis, node-redis, or `{ sendCommand(args) }`. store.close() leaves it open. */
        client: RedisClientLike;
        url?: undefined;
      }
  );

export type RedisSessionStoreErrorCode =
  'ERR_LB_REDIS_TIMEOUT' | 'ERR_LB_REDIS_FAILED' | 'ERR_LB_REDIS_BUSY' | 'ERR_LB_REDIS_CLOSED';

/** Why a store call failed; `cause` holds the client's own error when there is one. */
export class RedisSessionStoreError extends Error {
  readonly code: RedisSessionStoreErrorCode;
  constructor(code: RedisSessionStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(`RedisSessionStore: ${message}`, options);
    this.name = 'RedisSessionStoreError';
    this.code = code;
  }
}

export const DEFAULT_PREFIX = 'lb:sess:';
/** Half the balancer's own 1 s store timeout, so the store's more precise error is the one seen. */
export const DEFAULT_COMMAND_TIMEOUT = 500;
/** Longest session id stored; longer ones are rejected, as MemorySessionStore does. */
export { MAX_SESSION_ID_LENGTH } from './session-id';
/**
 * Commands awaiting a reply at most. A hung Redis leaves timed-out commands queued in the client
 * until it answers or the connection drops; past this many the store fails fast instead of piling
 * up more, so memory stays bounded whatever the traffic.
 */
export const MAX_PENDING_COMMANDS = 1024;

const MAX_TIMER_MS = 2_147_483_647;
const OPTION_KEYS = ['url', 'client', 'prefix', 'commandTimeout'];

type Send = (args: string[]) => unknown;

/** The slice of an ioredis client the store uses when it created the client itself. */
interface OwnedClient extends RedisCallClient {
  readonly status: string;
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
}

type IoRedisConstructor = new (url: string, options: Record<string, unknown>) => OwnedClient;

export class RedisSessionStore implements SessionStore {
  readonly prefix: string;
  readonly commandTimeout: number;
  private readonly send: Send;
  /** The ioredis client made from `url`; undefined when the caller passed a client. */
  private readonly owned: OwnedClient | undefined;
  /** Settles when the owned client's first connection attempt ends (ready or failed). */
  private firstConnect: Promise<void> | undefined;
  private pending = 0;
  private closing: Promise<void> | undefined;

  constructor(options: RedisSessionStoreOptions) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      bad('options', 'an object { url } or { client }, with prefix? and commandTimeout?', options);
    }
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key)) {
        throw new OptionsError(
          'ERR_LB_BAD_SESSION_STORE',
          `RedisSessionStore.${key}`,
          `RedisSessionStore has no option ${JSON.stringify(key)} (known: ${OPTION_KEYS.join(', ')})`,
        );
      }
    }
    const {
      url,
      client,
      prefix = DEFAULT_PREFIX,
      commandTimeout = DEFAULT_COMMAND_TIMEOUT,
    } = options as { url?: unknown; client?: unknown; prefix?: unknown; commandTimeout?: unknown };
    if (typeof prefix !== 'string') bad('prefix', 'a string', prefix);
    if (
      typeof commandTimeout !== 'number' ||
      !Number.isFinite(commandTimeout) ||
      commandTimeout <= 0 ||
      commandTimeout > MAX_TIMER_MS
    ) {
      bad('commandTimeout', `a number of milliseconds from 1 to ${MAX_TIMER_MS}`, commandTimeout);
    }
    this.prefix = prefix;
    this.commandTimeout = commandTimeout;
    if ((url === undefined) === (client === undefined)) {
      throw new OptionsError(
        'ERR_LB_BAD_SESSION_STORE',
        'RedisSessionStore.url',
        `RedisSessionStore needs exactly one of url and client, got ${url === undefined ? 'neither' : 'both'}`,
      );
    }
    if (url !== undefined) {
      if (typeof url !== 'string' || !/^rediss?:\/\//i.test(url)) {
        // Never echo the value: a Redis URL may carry a password.
        throw new OptionsError(
          'ERR_LB_BAD_SESSION_STORE',
          'RedisSessionStore.url',
          `RedisSessionStore url must be a redis:// or rediss:// URL, got ${typeof url === 'string' ? 'another string (not shown: it may hold a password)' : typeof url}`,
        );
      }
      this.owned = createOwnedClient(url);
      this.send = callSender(this.owned);
      // Connect now so the first request finds the connection ready; commands issued meanwhile
      // wait for this attempt (within their timeout), later ones fail fast while disconnected.
      this.firstConnect = this.owned.connect().then(
        () => undefined,
        () => undefined,
      );
      void this.firstConnect.then(() => {
        this.firstConnect = undefined;
      });
    } else {
      this.owned = undefined;
      this.send = senderFor(client);
    }
  }

  /** The upstream id of a live session, or undefined. Rejects (never throws) when Redis fails. */
  async get(id: string): Promise<string | undefined> {
    if (!isStorableId(id)) return undefined; // too long or not a string: never stored
    return decode(await this.run(['GET', this.prefix + id]));
  }

  /** Pins `id` to `upstreamId` for `ttlMs`. Rejects with a RangeError for ids over 256 chars. */
  async set(id: string, upstreamId: string, ttlMs: number): Promise<void> {
    checkSessionId(id, 'RedisSessionStore');
    if (typeof upstreamId !== 'string') {
      throw new TypeError('RedisSessionStore.set: upstreamId must be a string');
    }
    await this.run(['SET', this.prefix + id, upstreamId, 'PX', ttlArg(ttlMs, 'set')]);
  }

  /** Moves a live session's expiry to `ttlMs` from now; PEXPIRE never creates a key. */
  async touch(id: string, ttlMs: number): Promise<void> {
    const ttl = ttlArg(ttlMs, 'touch');
    if (!isStorableId(id)) return;
    await this.run(['PEXPIRE', this.prefix + id, ttl]);
  }

  async delete(id: string): Promise<void> {
    if (!isStorableId(id)) return;
    await this.run(['DEL', this.prefix + id]);
  }

  /**
   * Stops accepting commands. Quits the Redis client only when the store created it from `url`
   * (waiting at most `commandTimeout` for Redis to acknowledge); a client you passed stays open.
   * Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const client = this.owned;
    if (!client) return;
    if (client.status === 'ready') {
      // QUIT lets replies in flight arrive; a hung Redis must not hang close(), hence the bound.
      const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
      await bounded(
        client.quit().then(() => ended),
        this.commandTimeout,
      ).catch(() => undefined);
    }
    if (client.status !== 'end') {
      // Cancels a scheduled reconnect and ends the socket. With disconnectTimeout 0 the client
      // destroys the socket on its next timer tick; wait that tick so nothing outlives close().
      client.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Sends one command, bounded by commandTimeout. Every failure is a RedisSessionStoreError. */
  private run(args: string[]): Promise<unknown> {
    const command = args[0]!;
    if (this.closing) {
      return Promise.reject(
        new RedisSessionStoreError('ERR_LB_REDIS_CLOSED', 'the store is closed'),
      );
    }
    if (this.pending >= MAX_PENDING_COMMANDS) {
      return Promise.reject(
        new RedisSessionStoreError(
          'ERR_LB_REDIS_BUSY',
          `${MAX_PENDING_COMMANDS} commands are already awaiting Redis; ${command} not sent`,
        ),
      );
    }
    this.pending++;
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new RedisSessionStoreError(
            'ERR_LB_REDIS_TIMEOUT',
            `${command} got no answer within ${this.commandTimeout} ms`,
          ),
        );
      }, this.commandTimeout);
      // The store never keeps a process alive; the client's socket decides that.
      timer.unref();
      const dispatch = (): unknown => {
        // Waited for the first connection past the deadline: the caller has its answer already.
        if (settled) throw new RedisSessionStoreError('ERR_LB_REDIS_TIMEOUT', 'not sent');
        // The owned client would refuse too (no offline queue); this says why, in plain words.
        const status = this.owned?.status;
        if (status !== undefined && status !== 'ready') {
          throw new Error(`not connected to Redis (${status}); the client reconnects by itself`);
        }
        return this.send(args);
      };
      const connecting = this.firstConnect;
      // Promise.resolve().then() turns a client that throws synchronously into a rejection.
      const sent = connecting ? connecting.then(dispatch) : Promise.resolve().then(dispatch);
      sent
        .then(
          (reply) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(reply);
          },
          (error: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(
              new RedisSessionStoreError(
                'ERR_LB_REDIS_FAILED',
                `${command} failed: ${message(error)}`,
                {
                  cause: error,
                },
              ),
            );
          },
        )
        // Counted down only when the client gives the command up, not at our timeout: that is
        // what bounds the client's queue while Redis hangs.
        .finally(() => this.pending--)
        .catch(() => undefined);
    });
  }
}

/**
 * The ioredis client behind `{ url }`. ioredis, not node-redis, because it reconnects by itself
 * from the moment it is created (node-redis needs an explicit connect() and throws on an 'error'
 * nobody listens to) and lets us switch its offline queue off, so commands fail at once while
 * Redis is down instead of queueing behind a reconnect. Required lazily: it is an optional peer
 * dependency, needed only by those who use `url`.
 */
function createOwnedClient(url: string): OwnedClient {
  let Redis: IoRedisConstructor;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy optional peer
    const mod = require('ioredis') as { Redis?: IoRedisConstructor; default?: IoRedisConstructor };
    Redis = (mod.Redis ?? mod.default ?? mod) as IoRedisConstructor;
  } catch (error) {
    throw new OptionsError(
      'ERR_LB_BAD_SESSION_STORE',
      'RedisSessionStore.url',
      `RedisSessionStore { url } needs the optional peer dependency ioredis (npm install ioredis), ` +
        `or pass your own client as { client } (${message(error)})`,
    );
  }
  const client = new Redis(url, {
    lazyConnect: true, // the constructor connects explicitly, to know when the first try ends
    enableOfflineQueue: false, // disconnected: fail now, do not queue behind a reconnect
    maxRetriesPerRequest: 0, // a dropped connection rejects what was in flight at once
    autoResendUnfulfilledCommands: false, // never replay, after a reconnect, what already timed out
    // disconnect() otherwise leaves a 2 s timer behind when the socket is already gone (Redis
    // down, reconnect pending); close() has waited for QUIT's answer before it disconnects.
    disconnectTimeout: 0,
    // Reconnect forever, at most a second apart, so a restarted Redis is picked up quickly.
    retryStrategy: (times: number) => Math.min(times * 100, 1000),
  });
  // Failures reach callers as rejected commands ('storeError' in the balancer); without a
  // listener ioredis would print every failed reconnect attempt.
  client.on('error', () => undefined);
  return client;
}

/** ioredis first (it also has a sendCommand, which takes a Command object), then sendCommand(args). */
function senderFor(client: unknown): Send {
  if (typeof client === 'object' && client !== null) {
    if (typeof (client as Partial<RedisCallClient>).call === 'function') {
      return callSender(client as RedisCallClient);
    }
    if (typeof (client as Partial<RedisSendCommandClient>).sendCommand === 'function') {
      const target = client as RedisSendCommandClient;
      return (args) => target.sendCommand(args);
    }
  }
  return bad(
    'client',
    'an ioredis or node-redis client, or an object with sendCommand(args)',
    client,
  );
}

function callSender(client: RedisCallClient): Send {
  return ([command, ...rest]) => client.call(command!, ...rest);
}

function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(message(error)));
      },
    );
  });
}

/** A GET reply as an upstream id: strings as they are, bytes as UTF-8, anything else absent. */
function decode(reply: unknown): string | undefined {
  if (typeof reply === 'string') return reply;
  if (reply instanceof Uint8Array) return Buffer.from(reply).toString('utf8');
  return undefined;
}

/** PX and PEXPIRE take a positive integer; clamped so huge ttls never print in exponent form. */
function ttlArg(ttlMs: unknown, method: string): string {
  checkTtl(ttlMs, `RedisSessionStore.${method}`);
  return String(Math.min(Math.ceil(ttlMs), Number.MAX_SAFE_INTEGER));
}

function message(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return 'unknown error';
  }
}

function bad(option: string, expected: string, got: unknown): never {
  throw new OptionsError(
    'ERR_LB_BAD_SESSION_STORE',
    `RedisSessionStore.${option}`,
    `RedisSessionStore ${option} must be ${expected}, got ${describe(got)}`,
  );
}
