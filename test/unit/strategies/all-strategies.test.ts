// What every built-in strategy promises, checked through the registry: pick returns one of the
// candidates it was given (the very object), whatever the pool, weights, loads, health flaps,
// keys and hooks; and it reads neither Date.now() nor Math.random().

import fc from 'fast-check';
import { ManualClock, seededRandom } from '../../../src/clock';
import { algorithmNames, createStrategy } from '../../../src/strategies/registry';
import type { UpstreamView } from '../../../src/upstream';
import { begin, finish, upstream, type FakeUpstream } from './fixtures';

const step = fc.record({
  subset: fc.nat(), // bit mask of members left routable
  key: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
  start: fc.boolean(),
  end: fc.nat(),
  advanceMs: fc.integer({ min: 0, max: 5000 }),
  membership: fc.boolean(),
  outcome: fc.constantFrom('response', 'connect-failed', 'timeout', 'reset', 'aborted'),
});

describe.each(algorithmNames.map((name) => ({ name })))('$name', ({ name }) => {
  test('pick always returns one of the candidates', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 12 }),
        fc.array(step, { minLength: 1, maxLength: 60 }),
        fc.nat(),
        (weights, steps, seed) => {
          const random = seededRandom(seed);
          const clock = new ManualClock(0);
          const strategy = createStrategy(name, random);
          let members: FakeUpstream[] = weights.map((w, i) => upstream(`u${i}`, w));
          strategy.onMembersChanged?.(members);
          const open: FakeUpstream[] = [];
          let added = 0;
          for (const s of steps) {
            if (s.membership) {
              // Add one, or drop the first: the pool reports membership, then new candidates.
              members =
                members.length > 1 && s.subset % 2 === 0
                  ? members.slice(1)
                  : [...members, upstream(`x${added++}`, 1 + (s.subset % 5))];
              strategy.onMembersChanged?.(members);
            }
            const kept = members.filter((_, i) => ((s.subset >>> (i % 31)) & 1) === 0);
            const candidates: readonly UpstreamView[] = Object.freeze(
              kept.length > 0 ? kept : [members[0]!],
            );
            clock.advance(s.advanceMs);
            const picked = strategy.pick(candidates, { clock, random, key: s.key });
            expect(candidates).toContain(picked);
            if (s.start) {
              begin(strategy, picked!);
              open.push(picked as FakeUpstream);
            }
            if (open.length > 0 && s.end % 3 === 0) {
              const done = open.splice(s.end % open.length, 1)[0]!;
              finish(
                strategy,
                done,
                s.outcome === 'response'
                  ? { kind: 'response', status: 200, latencyMs: s.advanceMs / 10 }
                  : { kind: s.outcome },
              );
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('pick reads neither Date.now() nor Math.random()', () => {
    const forbidden = () => {
      throw new Error('a strategy must use ctx.clock / ctx.random');
    };
    const now = jest.spyOn(Date, 'now').mockImplementation(forbidden);
    const rand = jest.spyOn(Math, 'random').mockImplementation(forbidden);
    const perf = jest.spyOn(performance, 'now').mockImplementation(forbidden);
    try {
      const strategy = createStrategy(name, seededRandom(1));
      const members = [1, 2, 3, 4].map((w, i) => upstream(`u${i}`, w));
      strategy.onMembersChanged?.(members);
      const ctx = { clock: new ManualClock(0), random: seededRandom(2), key: 'k' };
      for (let i = 0; i < 50; i++) {
        const u = strategy.pick(Object.freeze(members.slice()), ctx)!;
        begin(strategy, u);
        finish(strategy, u, { kind: 'response', status: 200, latencyMs: 3 });
      }
    } finally {
      now.mockRestore();
      rand.mockRestore();
      perf.mockRestore();
    }
  });

  test('one candidate: that one', () => {
    const strategy = createStrategy(name, seededRandom(1));
    const only = [upstream('only')];
    strategy.onMembersChanged?.(only);
    expect(strategy.pick(only, { clock: new ManualClock(0), random: seededRandom(1) })).toBe(
      only[0],
    );
  });
});

test('the registry returns a fresh instance per balancer, and a user Strategy as is', () => {
  const a = createStrategy('least-connections', seededRandom(1));
  expect(createStrategy('least-connections', seededRandom(1))).not.toBe(a);
  const mine = { name: 'mine', pick: (c: readonly UpstreamView[]) => c[0] };
  expect(createStrategy(mine, seededRandom(1))).toBe(mine);
  expect(new Set(algorithmNames.map((n) => createStrategy(n, seededRandom(1)).name))).toEqual(
    new Set(algorithmNames),
  );
});
