import { seededRandom } from '../../../src/clock';
import { RoundRobin } from '../../../src/strategies/round-robin';
import { context, countIds, pool, sequentialPicks } from './fixtures';

describe('round-robin', () => {
  test.each([
    { upstreams: 3, picks: 300, each: 100 },
    { upstreams: 1, picks: 5, each: 5 },
    { upstreams: 2, picks: 10, each: 5 },
    { upstreams: 7, picks: 70, each: 10 },
  ])('$upstreams upstreams × $picks picks → exactly $each each', ({ upstreams, picks, each }) => {
    const candidates = pool(new Array<number>(upstreams).fill(1));
    const ids = sequentialPicks(new RoundRobin(seededRandom(7)), candidates, picks);
    expect(Object.values(countIds(ids))).toEqual(new Array<number>(upstreams).fill(each));
  });

  test('is a strict rotation: every upstream once per round, in the same order', () => {
    const candidates = pool([1, 1, 1, 1]);
    const ids = sequentialPicks(new RoundRobin(seededRandom(3)), candidates, 40);
    expect(new Set(ids.slice(0, 4)).size).toBe(4);
    for (let i = 4; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 4]);
  });

  test('ignores weights (weighted-round-robin is the weighted rotation)', () => {
    const ids = sequentialPicks(new RoundRobin(seededRandom(1)), pool([5, 1]), 10);
    expect(countIds(ids)).toEqual({ u0: 5, u1: 5 });
  });

  test('starts at a random offset, so balancers created together do not move in lockstep', () => {
    const candidates = pool([1, 1, 1, 1, 1]);
    const firsts = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      firsts.add(new RoundRobin(seededRandom(seed)).pick(candidates, context())!.id);
    }
    expect(firsts.size).toBe(5);
  });

  test('keeps rotating evenly over whatever candidates remain when one leaves', () => {
    const rr = new RoundRobin(seededRandom(5));
    const all = pool([1, 1, 1]);
    sequentialPicks(rr, all, 2);
    const twoLeft = Object.freeze([all[0]!, all[2]!]);
    expect(countIds(sequentialPicks(rr, twoLeft, 100))).toEqual({ u0: 50, u2: 50 });
    expect(countIds(sequentialPicks(rr, all, 99))).toEqual({ u0: 33, u1: 33, u2: 33 });
  });

  test('returns undefined for no candidates', () => {
    expect(new RoundRobin(seededRandom(1)).pick([], context())).toBeUndefined();
  });
});
