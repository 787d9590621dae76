// Owns the rules every built-in SessionStore applies to what it is given: session ids of at most
// MAX_SESSION_ID_LENGTH characters (longer ones are refused, never hashed, so no two ids can
// collide) and positive ttls. One place, so the stores cannot drift apart.

export const MAX_SESSION_ID_LENGTH = 256;

/** An id a store may hold: a string of at most MAX_SESSION_ID_LENGTH characters. */
export function isStorableId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= MAX_SESSION_ID_LENGTH;
}

/** Throws a TypeError or RangeError, naming the store, for an id it must not store. */
export function checkSessionId(id: unknown, store: string): void {
  if (typeof id !== 'string') throw new TypeError(`${store}: a session id must be a string`);
  if (id.length > MAX_SESSION_ID_LENGTH) {
    throw new RangeError(
      `${store}: session ids are at most ${MAX_SESSION_ID_LENGTH} characters, got ${id.length}`,
    );
  }
}

/** Throws a RangeError, naming the method, unless ttlMs is a positive finite number. */
export function checkTtl(ttlMs: unknown, where: string): asserts ttlMs is number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(
      `${where}: ttlMs must be a positive number of milliseconds, got ${String(ttlMs)}`,
    );
  }
}
