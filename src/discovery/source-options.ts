// Owns the checks dns() and discover() run on their own options, at the call, so a bad option
// throws where the user wrote it (not later, inside a timer) with the same teaching OptionsError
// as loadBalance(): the option's name, what is accepted, what was received, a near key for a typo.

import { bool, duration, fail, isPlainObject, rejectUnknownKeys } from '../options';

export { bool, duration, fail };

/** The default interval of dns() and discover(), in ms. */
export const DEFAULT_DISCOVERY_INTERVAL = 10_000;

/** The options object itself: undefined or a plain object with only `known` keys. */
export function optionsObject(
  value: unknown,
  where: string,
  known: readonly string[],
): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) fail('ERR_LB_BAD_OPTIONS', where, 'an options object', value);
  rejectUnknownKeys(value, known, where);
  return value;
}
