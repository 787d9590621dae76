// Owns MemorySessionStore: the in-process session table for sticky store mode. A Map kept in
// last-write order (set and touch move an entry to the end), with sliding ttl, a sweep of expired
// entries on an unref'd timer, and a hard cap on entries (oldest evicted first) so a flood of new
// clients cannot exhaust memory. It knows nothing of cookies or upstream health.

import { OptionsError } from '../errors';
import type { SessionStore } from './session-store';
import { checkSessionId, checkTtl, isStorableId } from './session-id';
import { describe } from '../options';

export interface MemorySessionStoreOptions {
  /** Most sessions held; the least recently written is evicted first. Default 100 000. */
  maxEntries?: number;
  /** ms between sweeps of expired entries. Default 60 000. */
  sweepInterval?: number;
}

/** Longest session id accepted; the balancer's own ids are 24 characters. */
export { MAX_SESSION_ID_LENGTH } from './session-id';
// setInterval treats anything above 2^31 − 1 ms as 1 ms: refuse it instead.
const MAX_TIMER_MS = 2_147_483_647;
const OPTION_KEYS = ['maxEntries', 'sweepInterval'];

interface Entry {
  readonly upstreamId: string;
  expiresAt: number;
}

export class MemorySessionStore implements SessionStore {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemorySessionStoreOptions = {}) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      bad('options', 'an object { maxEntries?, sweepInterval? }', options);
    }
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key)) {
        throw new OptionsError(
          'ERR_LB_BAD_SESSION_STORE',
          `MemorySessionStore.${key}`,
          `MemorySessionStore has no option ${JSON.stringify(key)} (known: ${OPTION_KEYS.join(', ')})`,
        );
      }
    }
    const { maxEntries = 100_000, sweepInterval = 60_000 } = options;
    if (typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1) {
      bad('maxEntries', 'an integer ≥ 1', maxEntries);
    }
    if (
      typeof sweepInterval !== 'number' ||
      !Number.isFinite(sweepInterval) ||
      sweepInterval <= 0 ||
      sweepInterval > MAX_TIMER_MS
    ) {
      bad('sweepInterval', `a number of milliseconds from 1 to ${MAX_TIMER_MS}`, sweepInterval);
    }
    this.maxEntries = maxEntries;
    this.timer = setInterval(() => this.sweep(), sweepInterval);
    // Never keep a process alive just to sweep.
    this.timer.unref();
  }

  /** Entries held now, including expired ones not yet swept. */
  get size(): number {
    return this.entries.size;
  }

  get(id: string): string | undefined {
    if (!isStorableId(id)) return undefined;
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.upstreamId;
  }

  /** Throws a RangeError for an id longer than 256 characters (see MAX_SESSION_ID_LENGTH). */
  set(id: string, upstreamId: string, ttlMs: number): void {
    checkSessionId(id, 'MemorySessionStore');
    if (typeof upstreamId !== 'string') {
      throw new TypeError(`MemorySessionStore.set: upstreamId must be a string`);
    }
    checkTtl(ttlMs, 'MemorySessionStore.set');
    // delete first so the entry moves to the end: the Map stays in last-write order.
    this.entries.delete(id);
    this.entries.set(id, { upstreamId, expiresAt: Date.now() + ttlMs });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  /** Extends a live session to `ttlMs` from now; an unknown or expired id stays absent. */
  touch(id: string, ttlMs: number): void {
    if (!isStorableId(id)) return;
    checkTtl(ttlMs, 'MemorySessionStore.touch');
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    const now = Date.now();
    if (entry.expiresAt <= now) return;
    entry.expiresAt = now + ttlMs;
    this.entries.set(id, entry);
  }

  delete(id: string): void {
    if (isStorableId(id)) this.entries.delete(id);
  }

  /** Stops the sweep timer and drops every entry. Idempotent. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.entries.clear();
  }

  /** Removes expired entries. Runs on the timer; public so tests need not wait for it. */
  sweep(now = Date.now()): void {
    // Entries may carry different ttls, so last-write order is not expiry order: scan them all.
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(id);
    }
  }
}

function bad(option: string, expected: string, got: unknown): never {
  throw new OptionsError(
    'ERR_LB_BAD_SESSION_STORE',
    `MemorySessionStore.${option}`,
    `MemorySessionStore ${option} must be ${expected}, got ${describe(got)}`,
  );
}
