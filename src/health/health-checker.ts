// Owns active health checking: one schedule per upstream, each probe's result run through
// nextHealth(), and `upstream.health` — the only field it writes. It must not route, eject
// (outlier-detector.ts) or emit events itself: it calls onTransition and the balancer emits.
//
// Schedule, per upstream: the first probe runs on the next turn of the event loop after add(),
// so 'unknown' resolves fast; each next probe starts jitteredInterval() after the previous one
// ENDED. One upstream's probes therefore never overlap, and a hanging upstream only delays itself.
// Every timer and probe socket is unref'd: a process that never calls close() still exits.
//
// checkNow() and a probe already in flight: checkNow() waits for it to end, then runs a fresh
// probe, so its answer always comes from a probe that started after the call and probes still
// never overlap (at most `2 × timeout` per upstream). Calls that arrive while a fresh probe is
// queued share it.

import type { Random } from '../clock';
import type { HealthCheckConfig } from '../options';
import type { HealthState, Upstream } from '../upstream';
import { probe as defaultProbe, type Probe, type ProbeResult } from './probes';
import { INITIAL_COUNTERS, nextHealth, type HealthCounters } from './thresholds';

/** Jitter added to every interval, as a fraction of it (Envoy's interval_jitter_percent). */
export const JITTER_FRACTION = 0.1;

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The wait before an upstream's next probe: `interval` plus up to 10 % of it, in
 * [interval, interval × 1.1). Only ever longer, never shorter, so probes never come more often
 * than configured; the spread keeps many balancers from probing an upstream in lockstep.
 */
export function jitteredInterval(interval: number, random: Random): number {
  return interval * (1 + JITTER_FRACTION * random.next());
}

export interface HealthCheckerOptions {
  readonly random: Random;
  /** Called on each real change of `upstream.health`, after it is written. Should not throw. */
  readonly onTransition: (
    upstream: Upstream,
    from: HealthState,
    to: HealthState,
    reason: string,
  ) => void;
  /** The probe to run; default: HTTP or TCP by `config.type` (probes.ts). */
  readonly probe?: Probe;
}

interface Entry {
  readonly upstream: Upstream;
  readonly config: HealthCheckConfig;
  counters: HealthCounters;
  /** The pending wait before the next scheduled probe. */
  timer: NodeJS.Timeout | undefined;
  /** The probe in flight (it applies its result before settling). */
  running: Promise<void> | undefined;
  controller: AbortController | undefined;
  /** A fresh probe requested by checkNow() while one was running; shared by later callers. */
  queued: Promise<void> | undefined;
  stopped: boolean;
}

export class HealthChecker {
  private readonly entries = new Map<string, Entry>();
  /** Every probe in flight, removed upstreams' included, so close() can wait for them all. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly random: Random;
  private readonly onTransition: HealthCheckerOptions['onTransition'];
  private readonly probe: Probe;
  private closing: Promise<void> | undefined;

  constructor(opts: HealthCheckerOptions) {
    this.random = opts.random;
    this.onTransition = opts.onTransition;
    this.probe = opts.probe ?? defaultProbe;
  }

  /**
   * Starts probing `upstream` on its own schedule. Its counters start from its current health.
   * An id already present is replaced (its schedule stopped first). Ignored after close().
   */
  add(upstream: Upstream, config: HealthCheckConfig): void {
    if (this.closing) return;
    this.remove(upstream.id);
    const entry: Entry = {
      upstream,
      config,
      counters: { ...INITIAL_COUNTERS, health: upstream.health },
      timer: undefined,
      running: undefined,
      controller: undefined,
      queued: undefined,
      stopped: false,
    };
    this.entries.set(upstream.id, entry);
    this.schedule(entry, 0);
  }

  /** Stops probing `id`: clears its timer and aborts a probe in flight (its result is dropped). */
  remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.stop(entry);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Probes every upstream once, concurrently; resolves when all are done (see the header). */
  async checkNow(): Promise<void> {
    if (this.closing) return;
    // The probes' own sockets and timers are unref'd; someone awaits this, so hold the process.
    const hold = setInterval(noop, 1 << 30);
    try {
      await Promise.all([...this.entries.values()].map((entry) => this.request(entry)));
    } finally {
      clearInterval(hold);
    }
  }

  /** Stops every schedule, aborts the probes in flight and resolves once they have ended. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const entry of this.entries.values()) this.stop(entry);
      this.entries.clear();
      await Promise.all([...this.inFlight]);
    })();
    return this.closing;
  }

  private stop(entry: Entry): void {
    entry.stopped = true;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.controller?.abort();
  }

  private schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(
      () => {
        entry.timer = undefined;
        void this.request(entry);
      },
      // Node turns a delay above 2^31 − 1 ms into 1 ms: clamp, or a huge interval would spin.
      Math.min(delayMs, MAX_TIMER_MS),
    );
    entry.timer.unref();
  }

  /** A probe for `entry` that starts now, or right after the one in flight ends. */
  private request(entry: Entry): Promise<void> {
    if (entry.queued) return entry.queued;
    if (!entry.running) return this.start(entry);
    const queued = entry.running.then(() => {
      entry.queued = undefined;
      return this.start(entry);
    });
    entry.queued = queued;
    return queued;
  }

  /** Runs one probe; only called when none is in flight for `entry`. Never rejects. */
  private start(entry: Entry): Promise<void> {
    if (entry.stopped) return Promise.resolve();
    clearTimeout(entry.timer);
    entry.timer = undefined;
    const controller = new AbortController();
    entry.controller = controller;
    const running = this.probe(entry.upstream.target, entry.config, controller.signal, {
      unref: true,
    })
      .catch((err: unknown): ProbeResult => ({ passed: false, reason: String(err) }))
      .then((result) => {
        entry.running = undefined;
        entry.controller = undefined;
        this.inFlight.delete(running);
        if (entry.stopped) return;
        this.apply(entry, result);
        // A queued probe follows at once; otherwise wait an interval from this probe's END.
        if (!entry.queued)
          this.schedule(entry, jitteredInterval(entry.config.interval, this.random));
      });
    entry.running = running;
    this.inFlight.add(running);
    return running;
  }

  private apply(entry: Entry, result: ProbeResult): void {
    const { state, transition } = nextHealth(entry.counters, result.passed, entry.config);
    entry.counters = state;
    entry.upstream.health = state.health;
    if (!transition) return;
    try {
      this.onTransition(entry.upstream, transition.from, transition.to, result.reason);
    } catch (err) {
      // The schedule must survive a throwing listener; surface the error the way an
      // EventEmitter listener's would, instead of swallowing it.
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

function noop(): void {}
