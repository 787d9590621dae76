// Owns the checks dns() and discover() run on their own options, at the call, so a bad option
// throws where the user wrote it (not later, inside a timer) with the same teaching OptionsError
// as loadBalance(): the option's name, what is accepted, what was received, a near key for a typo.

import { OptionsError } from '../errors';
import { describe } from '../options';

/** The default interval of dns() and discover(), in ms. */
export const DEFAULT_DISCOVERY_INTERVAL = 10_000;

export function fail(code: string, option: string, expected: string, got: unknown): never {
  throw new OptionsError(code, option, `${option} must be ${expected}, got ${describe(got)}`);
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      const same = a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase();
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (same ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The options object itself: undefined or a plain object with only `known` keys. */
export function optionsObject(
  value: unknown,
  where: string,
  known: readonly string[],
): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail('ERR_LB_BAD_OPTIONS', where, 'an options object', value);
  }
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => distance(key, k) <= 2);
    const hint = near ? ` (did you mean ${where}.${near}?)` : '';
    throw new OptionsError(
      'ERR_LB_UNKNOWN_OPTION',
      `${where}.${key}`,
      `unknown option ${where}.${key}${hint}; accepted: ${known.join(', ')}`,
    );
  }
  return value as Record<string, unknown>;
}

/** A duration in ms: a finite number > 0. */
export function duration(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail('ERR_LB_BAD_DURATION', option, 'a positive number of milliseconds', value);
  }
  return value;
}

export function bool(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail('ERR_LB_BAD_BOOLEAN', option, 'true or false', value);
  return value;
}
