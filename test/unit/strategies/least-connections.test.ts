import fc from 'fast-check';
import { seededRandom } from '../../../src/clock';
import { LeastConnections } from '../../../src/strategies/least-connections';
import type { UpstreamView } from '../../../src/upstream';
import { begin, context, countIds, finish, pool, sequentialPicks, upstream } from './fixtures';

describe('least-connections', () => {
  test.each([
    { inFlight: [3, 0, 2], expected: 'u1' },
    { inFlight: [1, 1, 0], expected: 'u2' },
    { inFlight: [0, 4, 4], expected: 'u0' },
    { inFlight: [9, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3], expected: 'u8' },
  ])('in flight $inFlight → $expected', ({ inFlight, expected }) => {
    const candidates = Object.freeze(inFlight.map((n, i) => upstream(`u${i}`, 1, n)));
    expect(new LeastConnections(seededRandom(1)).pick(candidates, context())!.id).toBe(expected);
  });

  test('ties rotate: a sequential client visits every upstream in turn', () => {
    const ids = sequentialPicks(new LeastConnections(seededRandom(2)), pool([1, 1, 1]), 30);
    expect(countIds(ids)).toEqual({ u0: 10, u1: 10, u2: 10 });
    expect(new Set(ids.slice(0, 3)).size).toBe(3);
    for (let i = 3; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 3]);
  });

  test('ties rotate even when nothing is started between picks', () => {
    const lc = new LeastConnections(seededRandom(3));
    const candidates = pool([1, 1, 1, 1]);
    const ids = Array.from({ length: 12 }, () => lc.pick(candidates, context())!.id);
    expect(countIds(ids)).toEqual({ u0: 3, u1: 3, u2: 3, u3: 3 });
  });

  test('ignores weights', () => {
    const ids = sequentialPicks(new LeastConnections(seededRandom(1)), pool([5, 1]), 10);
    expect(countIds(ids)).toEqual({ u0: 5, u1: 5 });
  });

  test('concurrent requests spread evenly; a finished one frees its upstream first', () => {
    const lc = new LeastConnections(seededRandom(4));
    const candidates = pool([1, 1, 1]);
    const started = Array.from({ length: 9 }, () => {
      const u = lc.pick(candidates, context())!;
      begin(lc, u);
      return u;
    });
    expect(candidates.map((u) => u.inFlight)).toEqual([3, 3, 3]);
    finish(lc, started[4]!);
    expect(lc.pick(candidates, context())).toBe(started[4]);
  });

  test('a count changed without a hook is still honoured for the winner', () => {
    const lc = new LeastConnections(seededRandom(5));
    const candidates = pool([1, 1]);
    const first = lc.pick(candidates, context())!;
    (first as { inFlight: number }).inFlight = 5; // no onRequestStart
    expect(lc.pick(candidates, context())).not.toBe(first);
  });

  test('property: every pick has the fewest in flight, over any script of starts, ends and health flaps', () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('pick' as const), begin: fc.boolean() }),
      fc.record({ op: fc.constant('end' as const), which: fc.nat() }),
      fc.record({ op: fc.constant('flap' as const), mask: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(step, { maxLength: 200 }),
        fc.nat(),
        (size, steps, seed) => {
          const members = pool(new Array<number>(size).fill(1));
          const lc = new LeastConnections(seededRandom(seed));
          lc.onMembersChanged(members);
          let candidates: readonly UpstreamView[] = members;
          const open: UpstreamView[] = [];
          for (const s of steps) {
            if (s.op === 'pick') {
              const u = lc.pick(candidates, context())!;
              expect(candidates).toContain(u);
              expect(u.inFlight).toBe(Math.min(...candidates.map((c) => c.inFlight)));
              if (s.begin) {
                begin(lc, u);
                open.push(u);
              }
            } else if (s.op === 'end' && open.length > 0) {
              finish(lc, open.splice(s.which % open.length, 1)[0]!);
            } else if (s.op === 'flap') {
              const kept = members.filter((_, i) => ((s.mask >>> (i % 30)) & 1) === 0);
              candidates = Object.freeze(kept.length > 0 ? kept : members.slice());
            }
          }
        },
      ),
    );
  });

  test('with 1,000 upstreams and random load the heap still finds the least loaded', () => {
    const random = seededRandom(9);
    const candidates = Object.freeze(
      Array.from({ length: 1000 }, (_, i) =>
        upstream(`u${i}`, 1, 1 + Math.floor(random.next() * 50)),
      ),
    );
    const lc = new LeastConnections(seededRandom(1));
    for (let i = 0; i < 2000; i++) {
      const u = lc.pick(candidates, context())!;
      expect(u.inFlight).toBe(Math.min(...candidates.map((c) => c.inFlight)));
      begin(lc, u);
      const other = candidates[Math.floor(random.next() * 1000)]!;
      if (other.inFlight > 0) finish(lc, other);
    }
  });

  test('one candidate, or none', () => {
    const lc = new LeastConnections(seededRandom(1));
    const only = pool([1]);
    expect(lc.pick(only, context())).toBe(only[0]);
    expect(lc.pick([], context())).toBeUndefined();
  });
});
