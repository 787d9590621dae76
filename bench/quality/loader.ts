// Child process: the closed-loop load generator of the decision benchmark. `connections` clients
// on as many keep-alive connections (undici Pool, pipelining 1), each sending GET / as soon as
// its previous answer has been read in full. Every request's latency is taken with
// process.hrtime (microsecond precision, so p99.9 means something), with the upstream that
// answered it (the `x-upstream` header) and whether it failed (a socket error or a status other
// than 200). No coordinated-omission correction: these are the latencies the clients saw.
//
// Run by the orchestrator only: node loader.js '{}', then 'run' commands over IPC.

import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { serveParent } from '../lib/proc';
import { Samples, quantile } from '../lib/stats';

export interface QualityRun {
  readonly url: string;
  readonly connections: number;
  /** Requests in this first stretch are sent but not recorded. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Window length for the timeline, ms. */
  readonly windowMs: number;
  readonly upstreams: number;
  /** Stretches of the measured run (ms from its start) summarised on their own. */
  readonly phases: ReadonlyArray<{ readonly fromMs: number; readonly toMs: number }>;
}

export interface Summary {
  readonly requests: number;
  readonly errors: number;
  /** Milliseconds. */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** Requests answered by each upstream, by index. */
  readonly perUpstream: number[];
}

export interface QualityResult {
  readonly overall: Summary;
  /** One summary per window of the measured stretch, in order. */
  readonly windows: Summary[];
  /** One summary per requested phase, by the time each request was sent. */
  readonly phases: Summary[];
  /** A few distinct error messages, for the report. */
  readonly errorSamples: string[];
}

class Recorder {
  readonly latencies = new Samples();
  errors = 0;
  readonly perUpstream: number[];

  constructor(upstreams: number) {
    this.perUpstream = new Array<number>(upstreams).fill(0);
  }

  add(ms: number, upstream: number, failed: boolean): void {
    this.latencies.push(ms);
    if (failed) this.errors++;
    if (upstream >= 0 && upstream < this.perUpstream.length) this.perUpstream[upstream]!++;
  }

  summary(): Summary {
    const sorted = this.latencies.sorted();
    return {
      requests: sorted.length,
      errors: this.errors,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      p999: quantile(sorted, 0.999),
      max: sorted.length > 0 ? sorted[sorted.length - 1]! : NaN,
      perUpstream: this.perUpstream,
    };
  }
}

async function run(spec: QualityRun): Promise<QualityResult> {
  const origin = new URL(spec.url).origin;
  const pool = new Pool(origin, { connections: spec.connections, pipelining: 1 });
  const overall = new Recorder(spec.upstreams);
  const windowCount = Math.ceil(spec.durationMs / spec.windowMs);
  const windows = Array.from({ length: windowCount }, () => new Recorder(spec.upstreams));
  const phases = spec.phases.map(() => new Recorder(spec.upstreams));
  const errorSamples = new Set<string>();
  const t0 = process.hrtime.bigint();
  const elapsedMs = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
  const end = spec.warmupMs + spec.durationMs;

  const client = async (): Promise<void> => {
    while (elapsedMs() < end) {
      const sentAt = elapsedMs();
      let upstream = -1;
      let failed = false;
      try {
        const res = await pool.request({
          path: '/',
          method: 'GET',
          // A fresh key per request, for 'hash' with hashKey 'header:x-key'.
          headers: { 'x-key': randomUUID() },
        });
        const header = res.headers['x-upstream'];
        upstream = typeof header === 'string' ? Number(header) : -1;
        failed = res.statusCode !== 200;
        if (failed) errorSamples.add(`HTTP ${res.statusCode}`);
        await res.body.dump({ limit: 1 << 20 });
      } catch (error) {
        failed = true;
        errorSamples.add(String((error as Error).message ?? error));
      }
      const doneAt = elapsedMs();
      if (sentAt >= spec.warmupMs && doneAt <= end) {
        const latency = doneAt - sentAt;
        overall.add(latency, upstream, failed);
        const w = Math.min(windowCount - 1, Math.floor((sentAt - spec.warmupMs) / spec.windowMs));
        windows[w]!.add(latency, upstream, failed);
        const at = sentAt - spec.warmupMs;
        spec.phases.forEach((phase, i) => {
          if (at >= phase.fromMs && at < phase.toMs) phases[i]!.add(latency, upstream, failed);
        });
      }
      if (failed) await new Promise((r) => setTimeout(r, 1)); // no hot loop on a dead proxy
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, client));
  await pool.close();
  return {
    overall: overall.summary(),
    windows: windows.map((w) => w.summary()),
    phases: phases.map((p) => p.summary()),
    errorSamples: [...errorSamples].slice(0, 5),
  };
}

serveParent({}, { run: (spec: QualityRun) => run(spec) });
