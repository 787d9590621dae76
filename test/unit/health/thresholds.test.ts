// Tests the pure active-health state machine: every transition, and every non-transition.

import { INITIAL_COUNTERS, nextHealth, type HealthCounters } from '../../../src/health/thresholds';
import type { HealthState } from '../../../src/upstream';

const thresholds = { failureThreshold: 3, successThreshold: 2 };

function counters(health: HealthState, passes = 0, failures = 0): HealthCounters {
  return { health, consecutivePasses: passes, consecutiveFailures: failures };
}

describe('nextHealth', () => {
  test.each<{
    name: string;
    from: HealthCounters;
    passed: boolean;
    to: HealthState;
    transition: boolean;
  }>([
    {
      name: 'unknown: first pass → healthy',
      from: counters('unknown'),
      passed: true,
      to: 'healthy',
      transition: true,
    },
    {
      name: 'unknown: a pass after failures → healthy',
      from: counters('unknown', 0, 2),
      passed: true,
      to: 'healthy',
      transition: true,
    },
    {
      name: 'unknown: failure below threshold stays unknown',
      from: counters('unknown', 0, 1),
      passed: false,
      to: 'unknown',
      transition: false,
    },
    {
      name: 'unknown: failureThreshold-th failure → unhealthy',
      from: counters('unknown', 0, 2),
      passed: false,
      to: 'unhealthy',
      transition: true,
    },
    {
      name: 'healthy: pass stays healthy',
      from: counters('healthy', 5, 0),
      passed: true,
      to: 'healthy',
      transition: false,
    },
    {
      name: 'healthy: failure below threshold stays healthy',
      from: counters('healthy', 3, 0),
      passed: false,
      to: 'healthy',
      transition: false,
    },
    {
      name: 'healthy: failureThreshold-th failure → unhealthy',
      from: counters('healthy', 0, 2),
      passed: false,
      to: 'unhealthy',
      transition: true,
    },
    {
      name: 'unhealthy: failure stays unhealthy',
      from: counters('unhealthy', 0, 7),
      passed: false,
      to: 'unhealthy',
      transition: false,
    },
    {
      name: 'unhealthy: pass below successThreshold stays unhealthy',
      from: counters('unhealthy', 0, 4),
      passed: true,
      to: 'unhealthy',
      transition: false,
    },
    {
      name: 'unhealthy: successThreshold-th pass → healthy',
      from: counters('unhealthy', 1, 0),
      passed: true,
      to: 'healthy',
      transition: true,
    },
  ])('$name', ({ from, passed, to, transition }) => {
    const next = nextHealth(from, passed, thresholds);
    expect(next.state.health).toBe(to);
    expect(next.transition).toEqual(transition ? { from: from.health, to } : undefined);
  });

  test('a pass resets the failure streak, a failure resets the pass streak', () => {
    expect(nextHealth(counters('healthy', 0, 2), true, thresholds).state).toEqual(
      counters('healthy', 1, 0),
    );
    expect(nextHealth(counters('unhealthy', 1, 0), false, thresholds).state).toEqual(
      counters('unhealthy', 0, 1),
    );
  });

  test('an interrupted streak starts over: pass, fail, pass from unhealthy stays unhealthy', () => {
    let state = counters('unhealthy', 0, 3);
    for (const passed of [true, false, true]) state = nextHealth(state, passed, thresholds).state;
    expect(state.health).toBe('unhealthy');
    expect(nextHealth(state, true, thresholds).transition).toEqual({
      from: 'unhealthy',
      to: 'healthy',
    });
  });

  test.each([1, 2, 5])('failureThreshold %i: exactly that many failures from healthy', (n) => {
    let state = counters('healthy', 1, 0);
    const changes: number[] = [];
    for (let i = 1; i <= n + 3; i++) {
      const next = nextHealth(state, false, { failureThreshold: n, successThreshold: 1 });
      if (next.transition) changes.push(i);
      state = next.state;
    }
    expect(changes).toEqual([n]);
  });

  test.each([1, 2, 5])('successThreshold %i: exactly that many passes from unhealthy', (n) => {
    let state = counters('unhealthy', 0, 9);
    const changes: number[] = [];
    for (let i = 1; i <= n + 3; i++) {
      const next = nextHealth(state, true, { failureThreshold: 1, successThreshold: n });
      if (next.transition) changes.push(i);
      state = next.state;
    }
    expect(changes).toEqual([n]);
  });

  test('INITIAL_COUNTERS starts unknown with empty streaks', () => {
    expect(INITIAL_COUNTERS).toEqual(counters('unknown'));
  });
});
