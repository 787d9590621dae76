// Owns the SessionStore conformance suite: what every store (memory, Redis, a user's own) must do
// for sticky store mode. It is imported by each store's test file, never run on its own, and it
// must work for synchronous and asynchronous stores alike: every call is awaited. Timing checks
// poll against generous deadlines and never assert how fast something happened.
//
// Contract (README "Sticky sessions" repeats it for store authors):
// - get(unknown) → undefined; set then get → the upstream id; a later set replaces it.
// - set(id, upstreamId, ttlMs) expires after ttlMs; touch(id, ttlMs) (optional) moves the expiry
//   to ttlMs from now and never creates a session; delete removes it.
// - Concurrent sets on distinct ids all land; concurrent sets on one id leave one of the values,
//   the same one for every later get.
// - Ids of up to 256 characters are stored as given. Longer ids are either rejected (set throws or
//   rejects, and get answers undefined) or fully supported without collisions (e.g. hashed).
// - Upstream ids of any characters round-trip unchanged.
// - close(), when present, is idempotent.

import { randomUUID } from 'node:crypto';
import type { SessionStore } from '../../src/session/session-store';

export interface SessionStoreContractOptions {
  /** A ttl short enough to watch expire, long enough that a set-then-get normally beats it. */
  shortTtlMs?: number;
}

const LONG_TTL = 60_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `get` until it answers `expected` or the deadline passes; returns the last answer. */
async function eventually(
  get: () => Promise<string | undefined>,
  expected: string | undefined,
  deadlineMs: number,
): Promise<string | undefined> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const answer = await get();
    if (answer === expected || Date.now() > until) return answer;
    await sleep(25);
  }
}

export function runSessionStoreContract(
  name: string,
  makeStore: () => Promise<SessionStore> | SessionStore,
  opts: SessionStoreContractOptions = {},
): void {
  const shortTtl = opts.shortTtlMs ?? 300;
  // Expiry may be lazy or swept: allow many ttls plus slack before calling it a failure.
  const expiryDeadline = shortTtl * 10 + 2_000;

  describe(`SessionStore contract: ${name}`, () => {
    let store: SessionStore;
    // Unique per run so a shared backend (Redis) never sees another run's keys.
    let prefix: string;
    const id = (suffix: string): string => `${prefix}${suffix}`;
    const get = (key: string) => async (): Promise<string | undefined> => store.get(key);

    beforeEach(async () => {
      store = await makeStore();
      prefix = `contract-${randomUUID().slice(0, 8)}-`;
    });

    afterEach(async () => {
      await store.close?.();
    });

    test('get of an unknown id answers undefined', async () => {
      expect(await store.get(id('unknown'))).toBeUndefined();
    });

    test('set then get answers the upstream id; a later set replaces it', async () => {
      await store.set(id('s'), 'upstream-a', LONG_TTL);
      expect(await store.get(id('s'))).toBe('upstream-a');
      await store.set(id('s'), 'upstream-b', LONG_TTL);
      expect(await store.get(id('s'))).toBe('upstream-b');
    });

    test('upstream ids of any characters round-trip unchanged', async () => {
      const upstreams = [
        'http://127.0.0.1:3001',
        'https://[::1]:8443/base/path?x=1',
        'id with spaces; and=equals',
        'ünïcödé ✓ 上游',
        'a'.repeat(256),
      ];
      for (const [i, upstream] of upstreams.entries()) {
        await store.set(id(`u${i}`), upstream, LONG_TTL);
      }
      for (const [i, upstream] of upstreams.entries()) {
        expect(await store.get(id(`u${i}`))).toBe(upstream);
      }
    });

    test('a session expires after its ttl', async () => {
      await store.set(id('ttl'), 'upstream-a', shortTtl);
      expect(await eventually(get(id('ttl')), undefined, expiryDeadline)).toBeUndefined();
    });

    test('touch moves the expiry to ttl from now (sliding)', async () => {
      if (!store.touch) return; // touch is optional
      // Retry if the machine stalled so long that the short ttl ran out before touch arrived.
      for (let attempt = 0; attempt < 5; attempt++) {
        const key = id(`touch${attempt}`);
        const started = Date.now();
        await store.set(key, 'upstream-a', shortTtl);
        await store.touch(key, LONG_TTL);
        if (Date.now() - started > shortTtl / 2) continue;
        await sleep(shortTtl * 3);
        expect(await store.get(key)).toBe('upstream-a');
        return;
      }
      throw new Error('could not set and touch within half the short ttl in 5 attempts');
    });

    test('touch can shorten the expiry too: it sets ttl from now', async () => {
      if (!store.touch) return;
      await store.set(id('shorten'), 'upstream-a', LONG_TTL);
      await store.touch(id('shorten'), shortTtl);
      expect(await eventually(get(id('shorten')), undefined, expiryDeadline)).toBeUndefined();
    });

    test('touch of an unknown id creates nothing', async () => {
      if (!store.touch) return;
      await store.touch(id('ghost'), LONG_TTL);
      expect(await store.get(id('ghost'))).toBeUndefined();
    });

    test('delete removes a session; deleting an unknown id is fine', async () => {
      await store.set(id('d'), 'upstream-a', LONG_TTL);
      await store.delete(id('d'));
      expect(await store.get(id('d'))).toBeUndefined();
      await store.delete(id('never-set'));
    });

    test('concurrent sets on distinct ids all land', async () => {
      const keys = Array.from({ length: 50 }, (_, i) => id(`c${i}`));
      await Promise.all(
        keys.map((key, i) => Promise.resolve(store.set(key, `upstream-${i}`, LONG_TTL))),
      );
      const answers = await Promise.all(keys.map((key) => Promise.resolve(store.get(key))));
      expect(answers).toEqual(keys.map((_, i) => `upstream-${i}`));
    });

    test('concurrent sets on one id leave one of the values, consistently', async () => {
      const values = ['upstream-a', 'upstream-b', 'upstream-c', 'upstream-d'];
      await Promise.all(
        values.map((value) => Promise.resolve(store.set(id('race'), value, LONG_TTL))),
      );
      const first = await store.get(id('race'));
      expect(values).toContain(first);
      for (let i = 0; i < 5; i++) expect(await store.get(id('race'))).toBe(first);
    });

    test('ids of up to 256 characters are stored as given', async () => {
      const key = id('k').padEnd(256, 'x');
      const sibling = id('k').padEnd(255, 'x');
      await store.set(key, 'upstream-a', LONG_TTL);
      expect(await store.get(key)).toBe('upstream-a');
      expect(await store.get(sibling)).toBeUndefined();
    });

    test('longer ids are rejected or fully supported, consistently', async () => {
      const long = id('L').padEnd(10_000, 'y');
      const sameStart = `${long.slice(0, 5_000)}z${long.slice(5_001)}`;
      let rejected = false;
      try {
        await store.set(long, 'upstream-a', LONG_TTL);
      } catch (error) {
        rejected = true;
        expect(error).toBeInstanceOf(Error);
      }
      if (rejected) {
        // Nothing was stored, and reading the id is not an error.
        expect(await store.get(long)).toBeUndefined();
        await store.delete(long);
        await store.touch?.(long, LONG_TTL);
        expect(await store.get(long)).toBeUndefined();
      } else {
        // Supported (hashed, say): it behaves like any id, and a near-identical id is distinct.
        expect(await store.get(long)).toBe('upstream-a');
        expect(await store.get(sameStart)).toBeUndefined();
        await store.delete(long);
        expect(await store.get(long)).toBeUndefined();
      }
    });

    test('close is idempotent', async () => {
      await store.close?.();
      await store.close?.();
    });
  });
}
