// Owns sticky sessions on the request path: reading the balancer's cookie (resolve), deciding
// whether the response needs a Set-Cookie and writing the session table (commit), and removing the
// cookie from what is forwarded upstream (stripCookie). It picks no upstream and checks no health:
// the balancer decides whether a pin is routable. It never throws or rejects on a request's behalf:
// bad cookies are "no pin", and store failures go to hooks.onStoreError and count as "no pin".

import type { IncomingMessage } from 'node:http';
import { stringifySetCookie } from 'cookie';
import { OptionsError } from '../errors';
import type { StickyConfig } from '../options';
import type { SessionStore } from './session-store';
import { CookieCodec, MAX_VALUE_LENGTH, newSessionId, type CookieKind } from './cookie-codec';

/** Store-mode session lifetime when `sticky.ttl` is not set (the cookie is then a session cookie). */
export const DEFAULT_STORE_TTL = 24 * 60 * 60 * 1000;
/** How long resolve() waits for store.get() before treating the session as absent. */
export const DEFAULT_STORE_TIMEOUT = 1000;

export interface StickyHooks {
  /** A store call threw, rejected or timed out. Called at most once per failed call. */
  onStoreError(error: Error): void;
}

/** Knobs for tests and the balancer; not user options. */
export interface StickyInternals {
  /** Wall clock for cookie expiry (default Date.now: cookies outlive processes). */
  readonly clock?: { now(): number };
  /** ms resolve() waits for an asynchronous store.get() (default 1000). */
  readonly storeTimeoutMs?: number;
}

/** What resolve() found on a request; hand it back to commit() unchanged. */
export interface StickyPin {
  /** The upstream the request's valid cookie (or its stored session) pins, if any. */
  readonly upstreamId: string | undefined;
  /** Store mode: the session id of a valid cookie (kept even when the store knew nothing). */
  readonly sessionId: string | undefined;
  /** The cookie needs no re-issue: current key, right shape, less than half its ttl elapsed. */
  readonly current: boolean;
  /** Store mode: store.get() failed for this request, so commit() writes nothing to the store. */
  readonly storeFailed: boolean;
}

/** A store-shaped error: what onStoreError receives for a store that does not answer in time. */
export class SessionStoreTimeoutError extends Error {
  readonly code = 'ERR_LB_SESSION_STORE_TIMEOUT';
  constructor(ms: number) {
    super(`session store get() did not answer within ${ms} ms`);
    this.name = 'SessionStoreTimeoutError';
  }
}

const NO_PIN: StickyPin = Object.freeze({
  upstreamId: undefined,
  sessionId: undefined,
  current: false,
  storeFailed: false,
});

type Pending = () => void;

export class Sticky {
  private readonly config: StickyConfig;
  private readonly hooks: StickyHooks;
  private readonly now: () => number;
  private readonly storeTimeoutMs: number;
  private readonly codec: CookieCodec;
  private readonly store: SessionStore | undefined;
  private readonly kind: CookieKind;
  /** Session lifetime written to the store. */
  private readonly storeTtl: number;
  private readonly maxAge: number | undefined;
  private readonly forceSecure: boolean;
  /** Per key slot: upstream token → upstream id, for the current members. */
  private tokenToId: readonly Map<string, string>[] = [];
  /** upstream id → token under the current key (what commit() issues). */
  private idToToken = new Map<string, string>();
  /** Lookups waiting on a store; close() settles them. */
  private readonly pending = new Set<Pending>();

  constructor(config: StickyConfig, hooks: StickyHooks, internals: StickyInternals = {}) {
    this.config = config;
    this.hooks = hooks;
    const clock = internals.clock;
    this.now = clock ? () => clock.now() : Date.now;
    this.storeTimeoutMs = internals.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT;
    this.codec = new CookieCodec(config.secrets);
    this.store = config.store;
    this.kind = config.store ? 'session' : 'upstream';
    this.storeTtl = config.ttl ?? DEFAULT_STORE_TTL;
    // Max-Age 0 would delete the cookie at once, so a sub-second ttl still lives one second.
    this.maxAge = config.ttl === undefined ? undefined : Math.max(1, Math.floor(config.ttl / 1000));
    // Browsers drop SameSite=None cookies that are not Secure.
    this.forceSecure = config.secure === true || config.sameSite === 'none';
    this.onMembersChanged([]);
    this.checkAttributes();
  }

  /** Rebuild the token maps for the pool's members; call at start and on every add/remove. */
  onMembersChanged(ids: readonly string[]): void {
    if (this.store) return; // store mode keeps upstream ids in the store, not in the cookie
    const maps: Map<string, string>[] = [];
    for (let k = 0; k < this.codec.keyCount; k++) {
      const map = new Map<string, string>();
      for (const id of ids) map.set(this.codec.upstreamToken(id, k), id);
      maps.push(map);
    }
    const idToToken = new Map<string, string>();
    for (const [token, id] of maps[0]!) idToToken.set(id, token);
    // Publish whole structures, never half-built ones.
    this.tokenToId = maps;
    this.idToToken = idToToken;
  }

  /**
   * The pin carried by the request's cookie. Synchronous in cookie mode and for synchronous
   * stores; a promise (that never rejects, and settles within the store timeout) otherwise.
   */
  resolve(req: IncomingMessage): StickyPin | Promise<StickyPin> {
    const header = req.headers.cookie;
    if (typeof header !== 'string' || !header.includes(this.config.cookie)) return NO_PIN;
    const now = this.now();
    let found: StickyPin | undefined;
    // Every occurrence counts: a browser may send a stale duplicate (another Path or Domain)
    // first; the first valid one wins.
    forEachCookie(header, (name, value) => {
      if (name !== this.config.cookie) return false;
      found = this.read(value, now);
      return found !== undefined;
    });
    if (found === undefined) return NO_PIN;
    if (!this.store) return found;
    return this.lookup(this.store, found);
  }

  /**
   * Records that the request went to `upstreamId`. Returns a Set-Cookie header value to append to
   * the response, or undefined when the client's cookie is already right. Store writes are
   * fire-and-forget: failures go to onStoreError.
   */
  commit(req: IncomingMessage, pin: StickyPin, upstreamId: string): string | undefined {
    const store = this.store;
    if (!store) {
      if (pin.current && pin.upstreamId === upstreamId) return undefined;
      const token = this.idToToken.get(upstreamId) ?? this.codec.upstreamToken(upstreamId);
      return this.setCookie(req, token);
    }
    const sessionId = pin.sessionId ?? newSessionId();
    if (!pin.storeFailed) {
      if (pin.sessionId !== undefined && pin.upstreamId === upstreamId) {
        // Sliding ttl: every request that keeps its pin extends the session.
        this.write(() =>
          store.touch
            ? store.touch(sessionId, this.storeTtl)
            : store.set(sessionId, upstreamId, this.storeTtl),
        );
      } else {
        this.write(() => store.set(sessionId, upstreamId, this.storeTtl));
      }
    }
    // The session id stays the same when only its upstream changed: no new cookie needed then.
    if (pin.sessionId !== undefined && pin.current) return undefined;
    return this.setCookie(req, sessionId);
  }

  /**
   * The Cookie header to forward upstream: every occurrence of the balancer's cookie removed, the
   * other cookies byte for byte and in order; undefined when nothing remains. Never throws.
   */
  stripCookie(cookieHeader: string | undefined): string | undefined {
    if (typeof cookieHeader !== 'string' || cookieHeader === '') return undefined;
    if (!cookieHeader.includes(this.config.cookie)) return cookieHeader;
    const kept: string[] = [];
    let start = 0;
    // Split on ';' and keep the other segments as they were: re-serialising would change bytes
    // (quoting, encoding, spacing) the upstream application may depend on.
    while (start <= cookieHeader.length) {
      let end = cookieHeader.indexOf(';', start);
      if (end < 0) end = cookieHeader.length;
      const segment = cookieHeader.slice(start, end);
      if (cookieName(segment) !== this.config.cookie) kept.push(segment);
      start = end + 1;
    }
    const result = kept.join(';').replace(/^[ \t]+/, '');
    return /^[\s;]*$/.test(result) ? undefined : result;
  }

  /** Settles lookups still waiting on the store (as "no pin") and clears their timers. */
  close(): void {
    for (const settle of [...this.pending]) settle();
    this.pending.clear();
  }

  /** A pin from one cookie value, or undefined when it is not valid now. */
  private read(value: string, now: number): StickyPin | undefined {
    if (value.length > MAX_VALUE_LENGTH) return undefined;
    const decoded = this.codec.decode(this.kind, value, now);
    if (!decoded) return undefined;
    // With ttl every value must carry its expiry, or one issued before ttl was set (or stripped
    // of it, when unsigned) would never expire.
    if (this.config.ttl !== undefined && decoded.expires === undefined) return undefined;
    const current = decoded.keyIndex === 0 && this.fresh(decoded.expires, now);
    if (this.store) {
      return { upstreamId: undefined, sessionId: decoded.head, current, storeFailed: false };
    }
    const upstreamId = this.tokenToId[decoded.keyIndex]?.get(decoded.head);
    if (upstreamId === undefined) return undefined; // unknown token: not (or no longer) a member
    return { upstreamId, sessionId: undefined, current, storeFailed: false };
  }

  /**
   * Rolling expiry: with `ttl`, a cookie past half its life is re-issued so active clients are
   * not cut off, while most responses carry no Set-Cookie. A value carrying an expiry when no ttl
   * is configured (any more) is honoured and re-issued once without it.
   */
  private fresh(expires: number | undefined, now: number): boolean {
    const ttl = this.config.ttl;
    if (ttl === undefined) return expires === undefined;
    return expires !== undefined && expires - now >= ttl / 2;
  }

  private lookup(store: SessionStore, found: StickyPin): StickyPin | Promise<StickyPin> {
    const sessionId = found.sessionId!;
    const failed: StickyPin = { ...found, storeFailed: true };
    let answer: unknown;
    try {
      answer = store.get(sessionId);
    } catch (error) {
      this.report(error);
      return failed;
    }
    if (!isThenable(answer)) return withUpstream(found, answer);
    return new Promise<StickyPin>((resolve) => {
      const settle = (pin: StickyPin): void => {
        if (!this.pending.delete(finish)) return; // already settled
        clearTimeout(timer);
        resolve(pin);
      };
      const finish: Pending = () => settle(failed);
      this.pending.add(finish);
      const timer = setTimeout(() => {
        if (!this.pending.has(finish)) return;
        this.report(new SessionStoreTimeoutError(this.storeTimeoutMs));
        settle(failed);
      }, this.storeTimeoutMs);
      timer.unref();
      // Promise.resolve adopts any thenable and turns a throwing then() into a rejection.
      Promise.resolve(answer).then(
        (value) => settle(withUpstream(found, value)),
        (error) => {
          if (!this.pending.has(finish)) return; // timed out already: reported once
          this.report(error);
          settle(failed);
        },
      );
    });
  }

  /** Runs a store write without waiting; any throw or rejection goes to onStoreError. */
  private write(call: () => unknown): void {
    try {
      const result = call();
      if (isThenable(result)) Promise.resolve(result).catch((error) => this.report(error));
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    try {
      this.hooks.onStoreError(toError(error));
    } catch {
      // A throwing listener must not turn into an unhandled rejection on the request path.
    }
  }

  private setCookie(req: IncomingMessage, head: string): string {
    const ttl = this.config.ttl;
    const value = this.codec.encode(
      this.kind,
      head,
      ttl === undefined ? undefined : this.now() + ttl,
    );
    return this.serialize(value, this.forceSecure || (this.config.secure === 'auto' && isTls(req)));
  }

  private serialize(value: string, secure: boolean): string {
    const config = this.config;
    return stringifySetCookie({
      name: config.cookie,
      value,
      path: config.path,
      domain: config.domain,
      maxAge: this.maxAge,
      httpOnly: config.httpOnly,
      secure,
      sameSite: config.sameSite,
    });
  }

  /** cookie's serializer is stricter than options.ts about path and domain: fail at start-up. */
  private checkAttributes(): void {
    try {
      this.serialize('x', false);
    } catch (error) {
      const option = /domain/i.test(String(error)) ? 'sticky.domain' : 'sticky.path';
      throw new OptionsError(
        'ERR_LB_BAD_STICKY',
        option,
        `${option} is not valid in a Set-Cookie header (${toError(error).message})`,
      );
    }
  }
}

function withUpstream(found: StickyPin, value: unknown): StickyPin {
  // A store answering something other than a non-empty string knows no session.
  return typeof value === 'string' && value !== '' ? { ...found, upstreamId: value } : found;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function toError(error: unknown): Error {
  if (error instanceof Error) return error;
  let text: string;
  try {
    text = String(error);
  } catch {
    text = 'unknown error';
  }
  return new Error(`session store failed: ${text}`);
}

/** Express's req.secure honours `trust proxy` and X-Forwarded-Proto; else the socket itself. */
function isTls(req: IncomingMessage): boolean {
  const secure = (req as { secure?: unknown }).secure;
  if (typeof secure === 'boolean') return secure;
  return (req.socket as { encrypted?: unknown } | undefined)?.encrypted === true;
}

/** A cookie-pair's name as cookie's parseCookie sees it: up to '=', spaces and tabs trimmed. */
function cookieName(segment: string): string | undefined {
  const eq = segment.indexOf('=');
  return eq < 0 ? undefined : trimOws(segment.slice(0, eq));
}

/** Calls `visit(name, value)` for each cookie-pair in order until it returns true. */
function forEachCookie(header: string, visit: (name: string, value: string) => boolean): void {
  let start = 0;
  let eq = -1;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    // Reuse the last '=' found while it lies ahead: searching afresh for every segment would be
    // quadratic on a header of many '='-less segments.
    if (eq < start) {
      eq = header.indexOf('=', start);
      if (eq < 0) return;
    }
    if (eq < end) {
      if (visit(trimOws(header.slice(start, eq)), trimOws(header.slice(eq + 1, end)))) return;
    }
    start = end + 1;
  }
}

/** Trims spaces and tabs only, as cookie's parseCookie does. */
function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) === 0x20 || text.charCodeAt(start) === 0x09)) {
    start++;
  }
  while (end > start && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) {
    end--;
  }
  return start === 0 && end === text.length ? text : text.slice(start, end);
}
