// Strategies never pick a non-candidate. test/unit/strategies/all-strategies.test.ts checks this
// for small pools (weights 1–10) through membership and health churn; the gaps filled here:
// weights across the whole accepted range (1 to 1 000 000) and larger pools, candidates arrays
// that are new objects in a new order on every pick, candidates the strategy was never told
// about, in-flight counts far from zero, and the balancer's own guard around a user Strategy
// that returns anything at all (or throws): the balancer uses a routable member, never one a
// retry already tried, or answers 503.

import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { ManualClock, seededRandom, type Random } from '../../src/clock';
import { createBalancer, type Balancer } from '../../src/balancer';
import { ConsistentHash } from '../../src/strategies/consistent-hash';
import { algorithmNames, createStrategy, type AlgorithmName } from '../../src/strategies/registry';
import type { Strategy } from '../../src/strategies/strategy';
import type { UpstreamView } from '../../src/upstream';

interface Fake extends UpstreamView {
  inFlight: number;
}

function fake(id: string, weight: number, inFlight = 0): Fake {
  return { id, url: `http://${id}.test`, weight, inFlight, health: 'healthy' };
}

const weight = fc.oneof(
  fc.integer({ min: 1, max: 10 }),
  fc.integer({ min: 1, max: 1_000_000 }),
  fc.constantFrom(1, 1_000_000),
);
const pickStep = fc.record({
  mask: fc.nat(),
  shuffle: fc.nat(),
  key: fc.option(fc.string({ maxLength: 16 }), { nil: undefined }),
  advanceMs: fc.integer({ min: 0, max: 60_000 }),
  latencyMs: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 60_000, noNaN: true })),
  outcome: fc.constantFrom('response', 'connect-failed', 'timeout', 'reset', 'aborted'),
});

/** A new array, in another order, of the members the mask keeps (never empty). */
function candidatesOf(members: readonly Fake[], mask: number, shuffle: number): readonly Fake[] {
  const kept = members.filter((_, i) => ((mask >>> (i % 31)) & 1) === 0);
  const list = kept.length > 0 ? kept : [members[mask % members.length]!];
  const rotated = list.map((_, i) => list[(i + shuffle) % list.length]!);
  if (shuffle % 2 === 1) rotated.reverse();
  return Object.freeze(rotated);
}

/**
 * The registry's strategy, except 'hash' on a ring capped at 2^14 points instead of 2^20: the
 * same code paths (weights scaled down past the cap, sparse rings) at a size that lets a
 * property build hundreds of rings quickly.
 */
function makeStrategy(name: AlgorithmName, random: Random): Strategy {
  return name === 'hash'
    ? new ConsistentHash(random, { maxRingPoints: 1 << 14 })
    : createStrategy(name, random);
}

describe.each(algorithmNames.map((name) => ({ name })))('$name', ({ name }) => {
  test('any weights in range, pools up to 40: pick returns a candidate, the very object', () => {
    fc.assert(
      fc.property(
        fc.array(weight, { minLength: 1, maxLength: 40 }),
        fc.array(pickStep, { minLength: 1, maxLength: 40 }),
        fc.nat(),
        (weights, steps, seed) => {
          const random = seededRandom(seed);
          const clock = new ManualClock(0);
          const strategy = makeStrategy(name, random);
          const members = weights.map((w, i) => fake(`u${i}`, w, (seed >>> (i % 31)) & 7));
          strategy.onMembersChanged?.(members);
          for (const step of steps) {
            const candidates = candidatesOf(members, step.mask, step.shuffle);
            clock.advance(step.advanceMs);
            const picked = strategy.pick(candidates, { clock, random, key: step.key });
            expect(candidates).toContain(picked);
            const u = picked as Fake;
            u.inFlight++;
            strategy.onRequestStart?.(u);
            u.inFlight--;
            strategy.onRequestEnd?.(
              u,
              step.outcome === 'response'
                ? { kind: 'response', status: 200, latencyMs: step.latencyMs }
                : { kind: step.outcome },
            );
          }
        },
      ),
      { numRuns: name === 'hash' ? 60 : 120 },
    );
  });

  test('candidates it was never told about (no or stale onMembersChanged): still a candidate', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 10 }),
        fc.boolean(),
        fc.array(pickStep, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        (weights, announceOld, steps, seed) => {
          const random = seededRandom(seed);
          const strategy = makeStrategy(name, random);
          if (announceOld) strategy.onMembersChanged?.([fake('gone-1', 1), fake('gone-2', 3)]);
          const members = weights.map((w, i) => fake(`new${i}`, w));
          for (const step of steps) {
            const candidates = candidatesOf(members, step.mask, step.shuffle);
            const picked = strategy.pick(candidates, {
              clock: new ManualClock(step.advanceMs),
              random,
              key: step.key,
            });
            // A strategy may decline (undefined: 503), but never name an upstream not offered.
            if (picked !== undefined) expect(candidates).toContain(picked);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- the balancer's guard

const balancers: Balancer[] = [];
afterAll(async () => {
  for (const b of balancers) await b.close();
});

test('a user Strategy returning anything (or throwing): the balancer gets a routable member or nothing, never one already tried', () => {
  const outsider = fake('http://127.0.0.1:1', 1);
  const answers = fc.constantFrom(
    'first',
    'undefined',
    'outsider',
    'copy', // an equal-looking object, not the candidate itself
    'non-candidate member',
    'junk',
    'throw',
  );
  const state = { answer: 'first' as string };
  const userStrategy: Strategy = {
    name: 'user',
    pick: (candidates) => {
      switch (state.answer) {
        case 'first':
          return candidates[0];
        case 'undefined':
          return undefined;
        case 'outsider':
          return outsider;
        case 'copy':
          return candidates[0] ? { ...candidates[0] } : undefined;
        case 'non-candidate member':
          return pool.find((m) => !candidates.includes(m));
        case 'junk':
          return 42 as unknown as UpstreamView;
        default:
          throw new Error('user bug');
      }
    },
  };
  const balancer = createBalancer({
    upstreams: ['http://127.0.0.1:2', 'http://127.0.0.1:3', 'http://127.0.0.1:4'],
    algorithm: userStrategy,
    healthCheck: false,
  });
  balancers.push(balancer);
  const internal = balancer as unknown as { pool: { get(id: string): UpstreamView } };
  const pool = balancer.stats().upstreams.map((u) => internal.pool.get(u.id));
  const req = { headers: {}, url: '/', socket: {} } as unknown as IncomingMessage;
  fc.assert(
    fc.property(answers, fc.nat(), (answer, mask) => {
      state.answer = answer;
      // First attempt: every routable member is a candidate.
      const picked = balancer.pick(pool as never, req);
      if (picked !== undefined) expect(pool).toContain(picked);
      // A look-alike is mapped back to the member with its id; anything else is refused.
      if (answer === 'first' || answer === 'copy') expect(picked).toBe(pool[0]);
      else if (answer !== 'non-candidate member') expect(picked).toBeUndefined();
      // A retry: never an upstream already tried, whatever the strategy says.
      const tried = pool.filter((_, i) => ((mask >>> i) & 1) === 1);
      const next = balancer.retryTarget(req, tried as never);
      if (next !== undefined) {
        expect(pool).toContain(next);
        expect(tried).not.toContain(next);
      }
    }),
    { numRuns: 500 },
  );
});

// ---------------------------------------------------------------- hash: bounded work

describe('hash: the ring stays bounded, and a pick never walks a long way', () => {
  interface HashInternals {
    ring: { points: Uint32Array; owners: Uint32Array };
    view?: { sparse?: unknown };
  }

  test('any weights: at most maxRingPoints (+1 per member); few candidate points get their own ring', () => {
    const MAX = 1 << 14;
    fc.assert(
      fc.property(
        fc.array(weight, { minLength: 2, maxLength: 40 }),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 12 }),
        (weights, mask, key) => {
          const hash = new ConsistentHash(seededRandom(1), { maxRingPoints: MAX });
          const members = weights.map((w, i) => fake(`u${i}`, w));
          hash.onMembersChanged(members);
          const internals = hash as unknown as HashInternals;
          const { points, owners } = internals.ring;
          // Weights reach 10^6 each: the ring is scaled, not one point per unit of weight.
          expect(points.length).toBeLessThanOrEqual(MAX + members.length);
          const candidates = candidatesOf(members, mask, 0);
          fc.pre(candidates.length > 1);
          const picked = hash.pick(candidates, {
            key,
            clock: new ManualClock(0),
            random: seededRandom(2),
          });
          expect(candidates).toContain(picked);
          // When the candidates own under 1/8 of the points (a heavy member out), the pick ran on
          // a ring of their points alone rather than walking past the others'.
          const ids = new Set(candidates.map((c) => c.id));
          let owned = 0;
          for (const owner of owners) if (ids.has(members[owner]!.id)) owned++;
          if (owned * 8 < points.length) expect(internals.view?.sparse).toBeDefined();
        },
      ),
      { numRuns: 100 },
    );
  });
});
