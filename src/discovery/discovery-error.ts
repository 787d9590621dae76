// Owns the error a discovery refresh reports through 'discoveryError': a stable code per way a
// refresh can go wrong, the original error as `cause`. These never reach a client; they exist
// for logs and alerts, since a failing source otherwise goes unnoticed (the pool is kept).

export type DiscoveryErrorCode =
  /** The source threw or rejected (DNS SERVFAIL, a refused connection, the user's bug). */
  | 'ERR_LB_DISCOVERY_FAILED'
  /** No answer within the source's `timeout`. */
  | 'ERR_LB_DISCOVERY_TIMEOUT'
  /** An empty answer from a source that is not authoritative: the pool was kept. */
  | 'ERR_LB_DISCOVERY_EMPTY'
  /** The answer was not a list (or not a `{ upstreams }` result): the pool was kept. */
  | 'ERR_LB_DISCOVERY_BAD_ANSWER'
  /** One entry of an answer was unusable (bad URL, weight, duplicate id): it was skipped. */
  | 'ERR_LB_DISCOVERY_BAD_ENTRY';

export class DiscoveryError extends Error {
  readonly code: DiscoveryErrorCode;
  /** The source's name, e.g. "dns:http://users.internal:8080". */
  readonly source: string;
  constructor(
    code: DiscoveryErrorCode,
    source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.name = 'DiscoveryError';
    this.code = code;
    this.source = source;
  }
}
