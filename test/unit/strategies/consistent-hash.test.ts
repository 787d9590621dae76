import fc from 'fast-check';
import { ManualClock, seededRandom } from '../../../src/clock';
import { ConsistentHash, hash32 } from '../../../src/strategies/consistent-hash';
import type { UpstreamView } from '../../../src/upstream';
import { context, countIds, pool, upstream } from './fixtures';

const keys = Array.from({ length: 2000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);

const clock = new ManualClock(0);
const random = seededRandom(1);

function route(ch: ConsistentHash, candidates: readonly UpstreamView[], ks = keys): string[] {
  return ks.map((key) => ch.pick(candidates, { clock, random, key })!.id);
}

/** Keys whose upstream changed from `before` to `after`, as "key: before → after". */
function moved(before: readonly string[], after: readonly string[], ks = keys): string[] {
  const out: string[] = [];
  before.forEach((id, k) => {
    if (after[k] !== id) out.push(`${ks[k]}: ${id} → ${after[k]}`);
  });
  return out;
}

function withMembers(members: readonly UpstreamView[], options = {}): ConsistentHash {
  const ch = new ConsistentHash(seededRandom(1), options);
  ch.onMembersChanged(members);
  return ch;
}

/** Pools of 2..12 upstreams with weights 1..5, plus an index to take out. */
const arbitraryPoolAndVictim = fc
  .array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 12 })
  .chain((weights) => fc.tuple(fc.constant(weights), fc.nat({ max: weights.length - 1 })));

describe('hash (consistent, weighted)', () => {
  test('the same key always goes to the same upstream, whatever order members are listed in', () => {
    const members = pool([1, 2, 3, 1]);
    const a = route(withMembers(members), members);
    const reversed = Object.freeze(members.slice().reverse());
    expect(route(withMembers(reversed), reversed)).toEqual(a);
    expect(route(withMembers(members), members)).toEqual(a);
    expect(new Set(a).size).toBe(4);
  });

  test('property: an upstream leaving the candidates moves only its keys; returning restores them', () => {
    fc.assert(
      fc.property(arbitraryPoolAndVictim, ([weights, victim]) => {
        const members = pool(weights);
        const ch = withMembers(members);
        const before = route(ch, members);
        const without = Object.freeze(members.filter((_, i) => i !== victim));
        const during = route(ch, without);
        const victimKeys = before.filter((id) => id === `u${victim}`).length;
        expect(moved(before, during)).toHaveLength(victimKeys);
        expect(moved(before, during).every((m) => m.includes(`: u${victim} →`))).toBe(true);
        expect(moved(before, route(ch, Object.freeze(members.slice())))).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  test('property: removing a member moves only its keys, to where its health flap sent them', () => {
    fc.assert(
      fc.property(arbitraryPoolAndVictim, ([weights, victim]) => {
        const members = pool(weights);
        const ch = withMembers(members);
        const before = route(ch, members);
        const without = Object.freeze(members.filter((_, i) => i !== victim));
        const flapped = route(ch, without);
        ch.onMembersChanged(without);
        const removed = route(ch, without);
        expect(moved(flapped, removed)).toEqual([]);
        expect(moved(before, removed).every((m) => m.includes(`: u${victim} →`))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  test('property: adding a member moves keys only onto it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 10 }),
        (weights) => {
          const members = pool(weights);
          const ch = withMembers(members);
          const before = route(ch, members);
          const grown = Object.freeze([...members, upstream('new', 2)]);
          ch.onMembersChanged(grown);
          const after = route(ch, grown);
          expect(moved(before, after).every((m) => m.endsWith('→ new'))).toBe(true);
          expect(after).toContain('new');
        },
      ),
      { numRuns: 40 },
    );
  });

  test('property: shares follow weights', () => {
    const many = Array.from({ length: 20_000 }, (_, i) => `session-${i}`);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 6 }),
        (weights) => {
          const members = pool(weights);
          const counts = countIds(route(withMembers(members), members, many));
          const total = weights.reduce((a, b) => a + b, 0);
          weights.forEach((w, i) => {
            const share = (counts[`u${i}`] ?? 0) / many.length;
            // 160 points per unit of weight: about ±8 % per unit, so ±40 % is 5 sigma. Ignoring
            // weights would put a weight-1 upstream among 6,3,1 at 3.3× its share.
            expect(share / (w / total)).toBeGreaterThan(0.6);
            expect(share / (w / total)).toBeLessThan(1.4);
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  test('changing a weight moves keys only to or from that upstream', () => {
    const members = pool([2, 2, 2, 2]);
    const ch = withMembers(members);
    const before = route(ch, members);
    const heavier = Object.freeze([upstream('u0', 4), ...members.slice(1)]);
    ch.onMembersChanged(heavier);
    const after = route(ch, heavier);
    expect(moved(before, after).every((m) => m.endsWith('→ u0'))).toBe(true);
    expect(countIds(after).u0!).toBeGreaterThan(countIds(before).u0! * 1.5);
  });

  test('with most members down (a sparse ring) the survivors keep their keys', () => {
    const members = pool(new Array<number>(200).fill(1));
    const ch = withMembers(members);
    const before = route(ch, members);
    const survivors = Object.freeze(members.filter((_, i) => i % 25 === 0));
    const during = route(ch, survivors);
    const alive = new Set(survivors.map((u) => u.id));
    expect(during.every((id) => alive.has(id))).toBe(true);
    expect(moved(before, during).every((m) => !alive.has(m.split(': ')[1]!.split(' ')[0]!))).toBe(
      true,
    );
    // Removing one more survivor moves only that survivor's keys, sparse ring or not.
    const fewer = Object.freeze(survivors.slice(1));
    const gone = survivors[0]!.id;
    expect(moved(during, route(ch, fewer)).every((m) => m.includes(`: ${gone} →`))).toBe(true);
    expect(moved(during, route(ch, fewer)).length).toBeGreaterThan(0);
  });

  test('no key: rotation over the candidates', () => {
    const ch = withMembers(pool([5, 1, 1]));
    const candidates = pool([5, 1, 1]);
    const ids = Array.from({ length: 30 }, () => ch.pick(candidates, context())!.id);
    expect(countIds(ids)).toEqual({ u0: 10, u1: 10, u2: 10 });
  });

  test('works without onMembersChanged, and takes in a candidate it was not told about', () => {
    const ch = new ConsistentHash(seededRandom(1));
    const members = pool([1, 1, 1]);
    const a = route(ch, members);
    expect(a).toEqual(route(withMembers(members), members));
    const extra = Object.freeze([...members, upstream('late')]);
    expect(route(ch, extra)).toContain('late');
  });

  test('hash32 spreads similar keys evenly over the circle', () => {
    const buckets = new Array<number>(16).fill(0);
    for (const key of keys) buckets[hash32(key) >>> 28]!++;
    const expected = keys.length / 16;
    const chi = buckets.reduce((sum, b) => sum + (b - expected) ** 2 / expected, 0);
    expect(chi).toBeLessThan(40); // 15 degrees of freedom: p ≈ 0.0005
  });

  test('10,000 members: builds once, then picks by binary search', () => {
    const members = pool(new Array<number>(10_000).fill(1));
    const ch = withMembers(members);
    const before = route(ch, members);
    const without = Object.freeze(members.filter((_, i) => i !== 1234));
    expect(moved(before, route(ch, without)).every((m) => m.includes(': u1234 →'))).toBe(true);
  });
});
