import { seededRandom } from '../../../src/clock';
import { PowerOfTwo } from '../../../src/strategies/power-of-two';
import { chiSquare, context, countIds, pool, upstream } from './fixtures';

function shares(inFlight: readonly number[], picks: number, seed: number): number[] {
  const candidates = Object.freeze(inFlight.map((n, i) => upstream(`u${i}`, 1, n)));
  const ctx = context(seededRandom(seed));
  const p2c = new PowerOfTwo();
  const counts = countIds(Array.from({ length: picks }, () => p2c.pick(candidates, ctx)!.id));
  return candidates.map((u) => counts[u.id] ?? 0);
}

describe('power-of-two', () => {
  test.each([
    { inFlight: [0, 3], expected: 'u0' },
    { inFlight: [5, 2], expected: 'u1' },
  ])(
    'two candidates: always the one with fewer in flight ($inFlight)',
    ({ inFlight, expected }) => {
      const candidates = Object.freeze(inFlight.map((n, i) => upstream(`u${i}`, 1, n)));
      for (let seed = 0; seed < 20; seed++) {
        expect(new PowerOfTwo().pick(candidates, context(seededRandom(seed)))!.id).toBe(expected);
      }
    },
  );

  test('idle upstreams: uniform, ties broken at random', () => {
    const observed = shares([0, 0, 0, 0], 40_000, 1);
    expect(chiSquare(observed, [10_000, 10_000, 10_000, 10_000])).toBeLessThan(25);
  });

  test('the distribution of two choices: the least loaded wins whenever it is drawn', () => {
    // u0 is in 1/2 of the pairs (and always wins them); u1..u3 share the rest. A uniform
    // random pick (1/4 each) or a full scan (u0 always) both fail this.
    const observed = shares([0, 5, 5, 5], 60_000, 2);
    expect(chiSquare(observed, [30_000, 10_000, 10_000, 10_000])).toBeLessThan(25);
  });

  test('the most loaded candidate is never picked', () => {
    const observed = shares([1, 2, 3, 9, 0, 4], 10_000, 3);
    expect(observed[3]).toBe(0);
    // The least loaded is in 1/3 of the pairs: P = 1 − (5/6)(4/5).
    expect(observed[4]! / 10_000).toBeCloseTo(1 / 3, 1);
  });

  test('ignores weights: the same coins give the same picks whatever the weights', () => {
    const run = (weights: number[]) => {
      const candidates = pool(weights);
      const ctx = context(seededRandom(4));
      const p2c = new PowerOfTwo();
      return Array.from({ length: 200 }, () => p2c.pick(candidates, ctx)!.id);
    };
    expect(run([9, 1, 3])).toEqual(run([1, 1, 1]));
  });
});
