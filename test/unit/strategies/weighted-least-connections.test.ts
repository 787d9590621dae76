import fc from 'fast-check';
import { seededRandom } from '../../../src/clock';
import { WeightedLeastConnections } from '../../../src/strategies/weighted-least-connections';
import type { UpstreamView } from '../../../src/upstream';
import { begin, context, countIds, finish, pool, sequentialPicks, upstream } from './fixtures';

describe('weighted-least-connections', () => {
  test.each([
    { weights: [1, 2], inFlight: [1, 1], expected: 'u1' }, // 1 vs 0.5
    { weights: [1, 2], inFlight: [1, 3], expected: 'u0' }, // 1 vs 1.5
    { weights: [5, 1, 1], inFlight: [4, 1, 1], expected: 'u0' }, // 0.8 vs 1
    { weights: [3, 1], inFlight: [0, 0], expected: 'u0' }, // tie: the heavier goes first
  ])('weights $weights, in flight $inFlight → $expected', ({ weights, inFlight, expected }) => {
    const candidates = Object.freeze(weights.map((w, i) => upstream(`u${i}`, w, inFlight[i])));
    const wlc = new WeightedLeastConnections({ next: () => 0.5 });
    expect(wlc.pick(candidates, context())!.id).toBe(expected);
  });

  test('ties rotate in proportion to weight: a sequential client sees 3:1', () => {
    const ids = sequentialPicks(new WeightedLeastConnections(seededRandom(1)), pool([3, 1]), 40);
    expect(countIds(ids)).toEqual({ u0: 30, u1: 10 });
    for (let cycle = 0; cycle < 40; cycle += 4) {
      expect(countIds(ids.slice(cycle, cycle + 4))).toEqual({ u0: 3, u1: 1 });
    }
  });

  test('equal weights: ties rotate', () => {
    const ids = sequentialPicks(new WeightedLeastConnections(seededRandom(2)), pool([2, 2, 2]), 9);
    expect(new Set(ids.slice(0, 3)).size).toBe(3);
    expect(ids.slice(3)).toEqual([...ids.slice(0, 3), ...ids.slice(0, 3)]);
  });

  test('concurrent requests fill upstreams in proportion to weight', () => {
    const wlc = new WeightedLeastConnections(seededRandom(3));
    const candidates = pool([3, 1, 1]);
    for (let i = 0; i < 10; i++) begin(wlc, wlc.pick(candidates, context())!);
    expect(candidates.map((u) => u.inFlight)).toEqual([6, 2, 2]);
  });

  test('property: every pick has the least in flight per unit of weight', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 150 }),
        fc.nat(),
        (weights, steps, seed) => {
          const candidates = pool(weights);
          const wlc = new WeightedLeastConnections(seededRandom(seed));
          const open: UpstreamView[] = [];
          for (const [start, which] of steps) {
            if (start || open.length === 0) {
              const u = wlc.pick(candidates, context())!;
              const least = Math.min(...candidates.map((c) => c.inFlight / c.weight));
              expect(u.inFlight / u.weight).toBe(least);
              begin(wlc, u);
              open.push(u);
            } else {
              finish(wlc, open.splice(which % open.length, 1)[0]!);
            }
          }
        },
      ),
    );
  });
});
