// Runs the SessionStore contract on MemorySessionStore, then checks what only the memory store
// promises: the entry cap and its eviction order, the sweep timer, and option validation.
// Timer behaviour is checked with fake timers; the contract uses real short ttls.

import { MemorySessionStore } from '../../../src/session/memory-session-store';
import { runSessionStoreContract } from '../../contract/session-store.contract';

runSessionStoreContract('MemorySessionStore', () => new MemorySessionStore());

describe('MemorySessionStore', () => {
  const stores: MemorySessionStore[] = [];
  const make = (options?: ConstructorParameters<typeof MemorySessionStore>[0]) => {
    const store = new MemorySessionStore(options);
    stores.push(store);
    return store;
  };

  afterEach(() => {
    for (const store of stores.splice(0)) store.close();
    jest.useRealTimers();
  });

  test('holds at most maxEntries, evicting the oldest first', () => {
    const store = make({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c', 'd']) store.set(id, `up-${id}`, 60_000);
    expect(store.size).toBe(3);
    expect(store.get('a')).toBeUndefined();
    expect(['b', 'c', 'd'].map((id) => store.get(id))).toEqual(['up-b', 'up-c', 'up-d']);
  });

  test('set and touch count as use: the least recently written is evicted', () => {
    const store = make({ maxEntries: 3 });
    for (const id of ['a', 'b', 'c']) store.set(id, `up-${id}`, 60_000);
    store.touch('a', 60_000); // order now b, c, a
    store.set('b', 'up-b2', 60_000); // order now c, a, b
    store.set('d', 'up-d', 60_000); // evicts c
    expect(store.get('c')).toBeUndefined();
    expect(store.get('a')).toBe('up-a');
    expect(store.get('b')).toBe('up-b2');
    expect(store.get('d')).toBe('up-d');
  });

  test('a flood of new ids never grows it past maxEntries', () => {
    const store = make({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) store.set(`id-${i}`, 'up', 60_000);
    expect(store.size).toBe(100);
    expect(store.get('id-9999')).toBe('up');
    expect(store.get('id-9899')).toBeUndefined();
  });

  test('the sweep timer removes expired entries', () => {
    jest.useFakeTimers();
    const store = make({ sweepInterval: 1_000 });
    store.set('short', 'up', 500);
    store.set('long', 'up', 5_000);
    expect(store.size).toBe(2);
    jest.advanceTimersByTime(1_000);
    expect(store.size).toBe(1);
    expect(store.get('long')).toBe('up');
    jest.advanceTimersByTime(5_000);
    expect(store.size).toBe(0);
  });

  test('an expired entry is absent even before the sweep runs, and touch does not revive it', () => {
    jest.useFakeTimers();
    const store = make({ sweepInterval: 60_000 });
    store.set('a', 'up', 100);
    jest.setSystemTime(Date.now() + 200);
    store.touch('a', 60_000);
    expect(store.get('a')).toBeUndefined();
  });

  test('touch slides the ttl', () => {
    jest.useFakeTimers();
    const store = make();
    store.set('a', 'up', 1_000);
    jest.setSystemTime(Date.now() + 900);
    store.touch('a', 1_000);
    jest.setSystemTime(Date.now() + 900);
    expect(store.get('a')).toBe('up');
    jest.setSystemTime(Date.now() + 200);
    expect(store.get('a')).toBeUndefined();
  });

  test('the sweep timer is unref’d and close() stops it, idempotently', () => {
    const store = make();
    const timer = (store as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
    store.set('a', 'up', 60_000);
    store.close();
    expect((store as unknown as { timer: unknown }).timer).toBeUndefined();
    expect(store.size).toBe(0);
    store.close();
  });

  test('ids longer than 256 characters: set throws a RangeError, get/touch/delete ignore them', () => {
    const store = make();
    const long = 'x'.repeat(257);
    expect(() => store.set(long, 'up', 1_000)).toThrow(RangeError);
    expect(() => store.set(long, 'up', 1_000)).toThrow(/at most 256 characters/);
    expect(store.get(long)).toBeUndefined();
    expect(() => store.touch(long, 1_000)).not.toThrow();
    expect(() => store.delete(long)).not.toThrow();
    expect(() => store.set('x'.repeat(256), 'up', 1_000)).not.toThrow();
  });

  test('bad ttls are refused', () => {
    const store = make();
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => store.set('a', 'up', ttl)).toThrow(/ttlMs must be a positive number/);
    }
  });

  test.each([
    [{ maxEntries: 0 }, /maxEntries must be an integer ≥ 1, got 0/],
    [{ maxEntries: 1.5 }, /maxEntries/],
    [{ maxEntries: '10' }, /maxEntries must be an integer ≥ 1, got "10"/],
    [{ sweepInterval: 0 }, /sweepInterval must be a number of milliseconds/],
    [{ sweepInterval: 2 ** 31 }, /sweepInterval/],
    [{ sweepInterval: Number.NaN }, /sweepInterval/],
    [{ maxEntrie: 10 }, /no option "maxEntrie"/],
    [null, /options must be an object/],
  ])('bad options throw naming the option: %p', (options, message) => {
    expect(() => new MemorySessionStore(options as never)).toThrow(message);
  });

  test('bad options throw an OptionsError with a code', () => {
    expect(() => new MemorySessionStore({ maxEntries: -1 })).toThrow(
      expect.objectContaining({
        code: 'ERR_LB_BAD_SESSION_STORE',
        option: 'MemorySessionStore.maxEntries',
      }),
    );
  });
});
