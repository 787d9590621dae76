// Owns the active-health state machine: one probe result in, the next state out. Pure: no I/O,
// no timers, no upstream objects — the health checker applies the result and emits the change.
//
//   unknown  --first pass-->                          healthy
//   unknown  --failureThreshold consecutive fails-->  unhealthy
//   healthy  --failureThreshold consecutive fails-->  unhealthy
//   unhealthy --successThreshold consecutive passes--> healthy
//
// Only a real change of `health` is a transition (Envoy's HealthTransition::Changed).

import type { HealthState } from '../upstream';

export interface HealthCounters {
  readonly health: HealthState;
  /** Passes in a row, reset by any failure. */
  readonly consecutivePasses: number;
  /** Failures in a row, reset by any pass. */
  readonly consecutiveFailures: number;
}

export interface Thresholds {
  readonly failureThreshold: number;
  readonly successThreshold: number;
}

export interface HealthTransition {
  readonly from: HealthState;
  readonly to: HealthState;
}

export interface NextHealth {
  readonly state: HealthCounters;
  /** Present only when `health` changed. */
  readonly transition?: HealthTransition;
}

export const INITIAL_COUNTERS: HealthCounters = Object.freeze({
  health: 'unknown',
  consecutivePasses: 0,
  consecutiveFailures: 0,
});

export function nextHealth(
  state: HealthCounters,
  passed: boolean,
  thresholds: Thresholds,
): NextHealth {
  const consecutivePasses = passed ? state.consecutivePasses + 1 : 0;
  const consecutiveFailures = passed ? 0 : state.consecutiveFailures + 1;

  let health = state.health;
  if (passed) {
    // 'unknown' needs one pass so a fresh pool becomes usable on the first probe round;
    // 'unhealthy' needs successThreshold so a flapping upstream does not bounce straight back.
    if (health === 'unknown') health = 'healthy';
    else if (health === 'unhealthy' && consecutivePasses >= thresholds.successThreshold) {
      health = 'healthy';
    }
  } else if (health !== 'unhealthy' && consecutiveFailures >= thresholds.failureThreshold) {
    health = 'unhealthy';
  }

  const next: HealthCounters = { health, consecutivePasses, consecutiveFailures };
  return health === state.health
    ? { state: next }
    : { state: next, transition: { from: state.health, to: health } };
}
