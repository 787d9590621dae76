// Owns the two sources of non-determinism the core reads: time and randomness.
// Everything that picks or schedules takes them as parameters so tests can pin exact sequences.

/** A monotonic millisecond clock. */
export interface Clock {
  now(): number;
}

/** A source of uniform numbers in [0, 1). */
export interface Random {
  next(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

export const systemRandom: Random = { next: () => Math.random() };

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG; good enough for tests and jitter. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    next(): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private time = 0) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}
