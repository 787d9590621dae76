// Owns the mapping from what went wrong with an upstream call to the outcome the rest of the
// balancer understands. Never 500: refused/reset → 502, timeout → 504, nothing routable → 503.

/** Failure kinds of one attempt, before or after the upstream's response headers. */
export type FailureKind = 'connect-failed' | 'timeout' | 'reset' | 'aborted';

export const CONNECT_TIMEOUT = 'ELB_CONNECT_TIMEOUT';
export const HEADER_TIMEOUT = 'ELB_HEADER_TIMEOUT';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  CONNECT_TIMEOUT,
]);

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Classifies an error that ended an attempt. */
export function classifyFailure(error: unknown): FailureKind {
  const code = errorCode(error);
  if (code === HEADER_TIMEOUT) return 'timeout';
  if (code !== undefined && CONNECT_CODES.has(code)) return 'connect-failed';
  return 'reset';
}

export function statusFor(kind: FailureKind): 502 | 504 {
  return kind === 'timeout' ? 504 : 502;
}

/** The short body the balancer answers with: generic, never an address, stack or cause. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
