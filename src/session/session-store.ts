// Owns the SessionStore interface: the session table behind sticky store mode.
// Tiered like express-session's: each method may answer synchronously or with a promise.
// Stores fail open: the balancer treats a store error as "no session" and balances normally.

export interface SessionStore {
  /** The upstream id the session is pinned to, or undefined when unknown or expired. */
  get(id: string): Promise<string | undefined> | string | undefined;
  /** Pin a session to an upstream for `ttlMs` (sliding: touch() extends it). */
  set(id: string, upstreamId: string, ttlMs: number): Promise<void> | void;
  delete(id: string): Promise<void> | void;
  /** Extend a session's life without changing it. */
  touch?(id: string, ttlMs: number): Promise<void> | void;
  /** Release timers and connections the store owns. */
  close?(): Promise<void> | void;
}
