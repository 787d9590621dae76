// Owns the refresh schedule of one DiscoverySource and what an answer becomes: each entry
// normalised with normalizeUpstream() (bad ones skipped and reported, never the whole answer),
// then handed to `apply` (the balancer's applyDiscovered, which diffs the pool by id). It does not
// touch the pool, probe or emit itself: it calls `apply` and `onError`, the balancer does the rest.
//
// Stale beats empty: a refresh that throws, times out, answers something that is not a list, or
// answers nothing usable keeps the last applied pool and reports why. An empty list is applied
// only when the answer says it is authoritative (the source knows "none" really means none).
//
// Schedule: the first refresh runs on the next turn of the event loop after start(); each next one
// starts after the previous one ENDED (refreshes never overlap): `interval` later, or sooner when
// the answer's TTL is shorter (never sooner than MIN_REFRESH_MS, so a TTL of 0 cannot spin). After
// a failure the retry comes after 1 s, 2 s, 4 s … capped at `interval`, so a source that is down
// at start-up is picked up quickly. Every timer is unref'd; close() stops it all and aborts the
// refresh in flight (its `signal`), and no answer is applied after close() was called.

import { OptionsError } from '../errors';
import { normalizeUpstream, type HealthCheckConfig, type UpstreamConfig } from '../options';
import { DiscoveryError } from './discovery-error';
import type { DiscoveryResult, DiscoverySource } from './discovery-source';

/** The shortest wait between two refreshes that a TTL or a retry can ask for (unless `interval` is shorter). */
export const MIN_REFRESH_MS = 1000;
/** A refresh's default bound, when `interval` is longer. */
export const DEFAULT_REFRESH_TIMEOUT_MS = 5000;

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DiscoveryLoopOptions {
  readonly source: DiscoverySource;
  /** The pool's health check, given to every entry that does not carry its own. */
  readonly healthCheck: HealthCheckConfig | false;
  /** Applies a usable answer: the full list of upstreams the source names now. */
  readonly apply: (configs: readonly UpstreamConfig[]) => void;
  /** A failed refresh or a skipped entry; the balancer emits it as 'discoveryError'. */
  readonly onError: (error: DiscoveryError) => void;
}

/**
 * When the next refresh is due after a usable answer: `interval`, or the answer's TTL when that
 * is shorter, but not sooner than MIN_REFRESH_MS (or `interval`, when that is shorter still).
 */
export function nextRefreshDelay(interval: number, ttlMs: number | undefined): number {
  if (ttlMs === undefined || !Number.isFinite(ttlMs) || ttlMs < 0) return interval;
  return Math.min(interval, Math.max(ttlMs, Math.min(interval, MIN_REFRESH_MS)));
}

/** The wait before retrying after `failures` (≥ 1) consecutive failed refreshes. */
export function retryDelay(interval: number, failures: number): number {
  return Math.min(interval, MIN_REFRESH_MS * 2 ** Math.min(failures - 1, 30));
}

function positive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

export class DiscoveryLoop {
  readonly source: DiscoverySource;
  private readonly timeout: number;
  private readonly healthCheck: HealthCheckConfig | false;
  private readonly apply: DiscoveryLoopOptions['apply'];
  private readonly onError: DiscoveryLoopOptions['onError'];
  private timer: NodeJS.Timeout | undefined;
  /** The refresh in flight; it never rejects. */
  private running: Promise<void> | undefined;
  /** A fresh refresh requested by refreshNow() while one was running; shared by later callers. */
  private queued: Promise<void> | undefined;
  private controller: AbortController | undefined;
  private failures = 0;
  private stopped = false;
  private closing: Promise<void> | undefined;
  private readonly first: Promise<void>;
  private settleFirst!: () => void;

  constructor(opts: DiscoveryLoopOptions) {
    const source = opts.source;
    // dns() and discover() check their options; a hand-built source is checked here, at
    // construction, so its mistakes throw from loadBalance() rather than inside a timer.
    if (typeof source.name !== 'string' || source.name === '') {
      throw new OptionsError(
        'ERR_LB_BAD_DISCOVERY',
        'upstreams.name',
        'upstreams.name must be a non-empty string (the discovery source name)',
      );
    }
    if (!positive(source.interval)) {
      throw new OptionsError(
        'ERR_LB_BAD_DISCOVERY',
        'upstreams.interval',
        'upstreams.interval must be a positive number of milliseconds',
      );
    }
    if (source.timeout !== undefined && !positive(source.timeout)) {
      throw new OptionsError(
        'ERR_LB_BAD_DISCOVERY',
        'upstreams.timeout',
        'upstreams.timeout must be a positive number of milliseconds',
      );
    }
    this.source = source;
    this.timeout = source.timeout ?? Math.min(source.interval, DEFAULT_REFRESH_TIMEOUT_MS);
    this.healthCheck = opts.healthCheck;
    this.apply = opts.apply;
    this.onError = opts.onError;
    this.first = new Promise<void>((resolve) => {
      this.settleFirst = resolve;
    });
  }

  /** Starts the schedule: the first refresh runs on the next turn of the event loop. */
  start(): void {
    if (this.stopped || this.timer !== undefined || this.running) return;
    this.schedule(0);
  }

  /**
   * Runs one refresh now (right after the one in flight, if any) and resolves when its answer
   * has been applied or rejected. Never rejects; failures go to `onError`.
   */
  async refreshNow(): Promise<void> {
    if (this.stopped) return;
    // The refresh's own timers are unref'd; someone awaits this, so hold the process meanwhile.
    const hold = setInterval(noop, 1 << 30);
    try {
      await this.request();
    } finally {
      clearInterval(hold);
    }
  }

  /** Resolves once the first refresh has ended, applied or failed (or the loop closed). */
  ready(): Promise<void> {
    return this.first;
  }

  /** Stops the schedule, aborts the refresh in flight and resolves once it has ended. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      this.timer = undefined;
      this.controller?.abort(new Error('discovery closed'));
      this.settleFirst();
      await this.running;
      await this.queued;
    })();
    return this.closing;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.request();
      },
      Math.min(delayMs, MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  private request(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return this.run();
    const queued = this.running.then(() => {
      this.queued = undefined;
      return this.run();
    });
    this.queued = queued;
    return queued;
  }

  /** One refresh, then the next one scheduled; only called when none is in flight. */
  private run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    clearTimeout(this.timer);
    this.timer = undefined;
    const running = this.refresh().then((delay) => {
      this.running = undefined;
      this.settleFirst();
      if (!this.stopped && !this.queued) this.schedule(delay);
    });
    this.running = running;
    return running;
  }

  /** Asks the source, applies a usable answer; resolves with the delay to the next refresh. */
  private async refresh(): Promise<number> {
    const interval = this.source.interval;
    let result: DiscoveryResult;
    try {
      result = await this.ask();
    } catch (error) {
      if (this.stopped) return interval;
      this.report(
        error instanceof DiscoveryError
          ? error
          : new DiscoveryError(
              'ERR_LB_DISCOVERY_FAILED',
              this.source.name,
              `refresh failed, pool kept: ${messageOf(error)}`,
              { cause: error },
            ),
      );
      return retryDelay(interval, ++this.failures);
    }
    if (this.stopped) return interval;
    if (!this.use(result)) return retryDelay(interval, ++this.failures);
    this.failures = 0;
    return nextRefreshDelay(interval, result.ttlMs);
  }

  /** The source's answer, bounded by `timeout` and by close(); rejects with what it threw. */
  private async ask(): Promise<DiscoveryResult> {
    const controller = new AbortController();
    this.controller = controller;
    // Rejects when the refresh times out or the loop closes, whatever the source does with
    // its signal: a source that ignores it cannot hold the loop (or close()) up.
    const cut = new Promise<never>((_resolve, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
        once: true,
      });
    });
    const timer = setTimeout(
      () => {
        controller.abort(
          new DiscoveryError(
            'ERR_LB_DISCOVERY_TIMEOUT',
            this.source.name,
            `no answer within ${this.timeout} ms, pool kept`,
          ),
        );
      },
      Math.min(this.timeout, MAX_TIMER_MS),
    );
    timer.unref();
    try {
      // Through then(), so a source that throws synchronously is a rejection like any other.
      const answer = Promise.resolve().then(() =>
        this.source.resolve({ signal: controller.signal }),
      );
      return await Promise.race([answer, cut]);
    } finally {
      clearTimeout(timer);
      if (this.controller === controller) this.controller = undefined;
    }
  }

  /** Normalises and applies an answer; false when the pool was kept instead. */
  private use(result: DiscoveryResult): boolean {
    const name = this.source.name;
    const entries: unknown = (result as { upstreams?: unknown } | null | undefined)?.upstreams;
    if (!Array.isArray(entries)) {
      this.report(
        new DiscoveryError(
          'ERR_LB_DISCOVERY_BAD_ANSWER',
          name,
          'the answer is not a list of upstreams, pool kept',
        ),
      );
      return false;
    }
    const configs: UpstreamConfig[] = [];
    const seen = new Set<string>();
    (entries as unknown[]).forEach((entry, i) => {
      let config: UpstreamConfig;
      try {
        config = normalizeUpstream(entry, `answer[${i}]`, this.healthCheck);
      } catch (error) {
        const message = messageOf(error);
        this.report(
          new DiscoveryError(
            'ERR_LB_DISCOVERY_BAD_ENTRY',
            name,
            `answer[${i}] skipped: ${message}`,
            {
              cause: error,
            },
          ),
        );
        return;
      }
      if (seen.has(config.id)) {
        this.report(
          new DiscoveryError(
            'ERR_LB_DISCOVERY_BAD_ENTRY',
            name,
            `answer[${i}] skipped: it repeats id ${JSON.stringify(config.id)}`,
          ),
        );
        return;
      }
      seen.add(config.id);
      configs.push(config);
    });
    // Every entry was unusable: that is a broken answer, not "no upstreams" (already reported).
    if (configs.length === 0 && entries.length > 0) return false;
    if (configs.length === 0 && result.authoritative !== true) {
      this.report(
        new DiscoveryError(
          'ERR_LB_DISCOVERY_EMPTY',
          name,
          'the answer names no upstreams and the source is not authoritative, pool kept',
        ),
      );
      return false;
    }
    try {
      this.apply(configs);
    } catch (error) {
      this.report(
        new DiscoveryError('ERR_LB_DISCOVERY_FAILED', name, 'applying the answer failed', {
          cause: error,
        }),
      );
      return false;
    }
    return true;
  }

  private report(error: DiscoveryError): void {
    try {
      this.onError(error);
    } catch {
      // A listener's bug must not stop the schedule.
    }
  }
}

function noop(): void {}

/** An error's message; not `instanceof Error`, which fails for errors from another realm. */
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(error);
}
