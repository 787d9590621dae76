// The pool: members by id, and the routable candidates as one frozen array that is rebuilt only
// when membership, health or an ejection changes — so strategies may cache what they derive.

import { normalizeUpstream } from '../../src/options';
import { Pool } from '../../src/pool';
import type { Upstream } from '../../src/upstream';

const config = (port: number) => normalizeUpstream(`http://127.0.0.1:${port}`, 'upstream', false);

function makePool() {
  const changes: Array<readonly string[]> = [];
  const pool = new Pool((members) => changes.push(members.map((m) => m.id)));
  return { pool, changes };
}

test('add, get by id, remove; membership changes are announced', () => {
  const { pool, changes } = makePool();
  const a = pool.add(config(1));
  pool.add(config(2));
  expect(pool.get('http://127.0.0.1:1')).toBe(a);
  expect(pool.size).toBe(2);
  expect(() => pool.add(config(1))).toThrow(/already in the pool/);
  expect(pool.remove('http://127.0.0.1:1')).toBe(a);
  expect(a.draining).toBe(true);
  expect(pool.remove('nope')).toBeUndefined();
  expect(changes).toEqual([
    ['http://127.0.0.1:1'],
    ['http://127.0.0.1:1', 'http://127.0.0.1:2'],
    ['http://127.0.0.1:2'],
  ]);
});

test('candidates are cached: the same array until something changes', () => {
  const { pool } = makePool();
  const a = pool.add(config(1));
  const b = pool.add(config(2));
  const first = pool.candidates(0);
  expect(first).toEqual([a, b]);
  expect(Object.isFrozen(first)).toBe(true);
  expect(pool.candidates(1)).toBe(first);

  b.health = 'unhealthy';
  pool.invalidate();
  const second = pool.candidates(2);
  expect(second).not.toBe(first);
  expect(second).toEqual([a]);
  expect(pool.candidates(3)).toBe(second);
});

test('an ejection ending rebuilds the candidates without anyone calling invalidate()', () => {
  const { pool } = makePool();
  const a: Upstream = pool.add(config(1));
  const b: Upstream = pool.add(config(2));
  b.ejectedUntil = 100;
  pool.invalidate();
  expect(pool.candidates(50)).toEqual([a]);
  expect(pool.candidates(99)).toEqual([a]);
  expect(pool.candidates(100)).toEqual([a, b]);
});

test('unknown and healthy are routable; unhealthy, ejected and draining are not', () => {
  const { pool } = makePool();
  const u = pool.add(config(1));
  expect(u.isRoutable(0)).toBe(true);
  u.health = 'healthy';
  expect(u.isRoutable(0)).toBe(true);
  u.health = 'unhealthy';
  expect(u.isRoutable(0)).toBe(false);
  u.health = 'healthy';
  u.ejectedUntil = 10;
  expect(u.isRoutable(5)).toBe(false);
  expect(u.isRoutable(10)).toBe(true);
  pool.remove(u.id);
  expect(u.isRoutable(20)).toBe(false);
});

test('in-flight accounting: begin/end pair up, latency averages only measured attempts', () => {
  const { pool } = makePool();
  const u = pool.add(config(1));
  u.begin();
  u.begin();
  expect(u.inFlight).toBe(2);
  u.end(false, 10);
  u.end(true, undefined);
  expect(u).toMatchObject({
    inFlight: 0,
    totalRequests: 2,
    failedRequests: 1,
    averageResponseTimeMs: 10,
  });
});
