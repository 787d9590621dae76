// Owns the typed errors: stable codes for users and logs, and the HTTP status the balancer answers.
// Messages here may name upstream ids for logs and events; they are never sent to clients.

export class LoadBalancerError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

/** Nothing routable: 503. */
export class NoUpstreamError extends LoadBalancerError {
  constructor(message = 'no upstream is available') {
    super('ERR_LB_NO_UPSTREAM', 503, message);
  }
}

/** Every attempt failed to connect or was reset before any response byte: 502. */
export class UpstreamUnreachableError extends LoadBalancerError {
  constructor(message = 'upstream unreachable', options?: { cause?: unknown }) {
    super('ERR_LB_UPSTREAM_UNREACHABLE', 502, message, options);
  }
}

/** No response headers within `timeout`: 504. */
export class UpstreamTimeoutError extends LoadBalancerError {
  constructor(message = 'upstream timed out', options?: { cause?: unknown }) {
    super('ERR_LB_UPSTREAM_TIMEOUT', 504, message, options);
  }
}

/** A bad option: thrown at construction, naming the option, what is accepted and what was received. */
export class OptionsError extends Error {
  readonly code: string;
  readonly option: string;
  constructor(code: string, option: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'OptionsError';
    this.code = code;
    this.option = option;
  }
}
