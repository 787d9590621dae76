import { seededRandom } from '../../../src/clock';
import { RandomStrategy } from '../../../src/strategies/random';
import { chiSquare, context, countIds, pool } from './fixtures';

describe('random', () => {
  test.each([
    { seed: 1, upstreams: 3 },
    { seed: 2, upstreams: 5 },
    { seed: 3, upstreams: 10 },
  ])('uniform over $upstreams upstreams (seed $seed)', ({ seed, upstreams }) => {
    const candidates = pool(new Array<number>(upstreams).fill(1));
    const ctx = context(seededRandom(seed));
    const picks = 30_000;
    const counts = countIds(
      Array.from({ length: picks }, () => new RandomStrategy().pick(candidates, ctx)!.id),
    );
    const observed = candidates.map((u) => counts[u.id] ?? 0);
    // df = upstreams − 1 ≤ 9: the 0.9999 quantile is below 33; a bias of a few per cent fails.
    expect(
      chiSquare(
        observed,
        observed.map(() => picks / upstreams),
      ),
    ).toBeLessThan(33);
  });

  test('ignores weights', () => {
    const candidates = pool([9, 1]);
    const ctx = context(seededRandom(4));
    const counts = countIds(
      Array.from({ length: 10_000 }, () => new RandomStrategy().pick(candidates, ctx)!.id),
    );
    expect(counts.u0! / 10_000).toBeGreaterThan(0.45);
    expect(counts.u0! / 10_000).toBeLessThan(0.55);
  });

  test('uses only ctx.random: the same seed gives the same sequence', () => {
    const candidates = pool([1, 1, 1, 1]);
    const run = (seed: number) => {
      const ctx = context(seededRandom(seed));
      return Array.from({ length: 50 }, () => new RandomStrategy().pick(candidates, ctx)!.id);
    };
    expect(run(11)).toEqual(run(11));
    expect(run(11)).not.toEqual(run(12));
  });

  test('a Random at the top of its range still yields a candidate', () => {
    const candidates = pool([1, 1, 1]);
    const top = { next: () => 0.9999999999999999 };
    expect(new RandomStrategy().pick(candidates, context(top))).toBe(candidates[2]);
    expect(new RandomStrategy().pick(candidates, context({ next: () => 1 }))).toBe(candidates[2]);
  });
});
