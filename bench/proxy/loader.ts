// Child process: the load generator of the cost benchmark. autocannon with a fixed number of
// keep-alive connections (no pipelining) against one URL for a fixed time. autocannon's own
// histogram keeps whole milliseconds; the latency of every 2xx response is taken from its
// 'response' event instead (float milliseconds from process.hrtime), so p50/p99 keep their
// fractions.
//
// Run by the orchestrator only: node loader.js '{}', then 'run' commands over IPC.

import autocannon from 'autocannon';
import { serveParent } from '../lib/proc';
import { Samples, quantile } from '../lib/stats';

export interface LoadRun {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly headers?: Record<string, string>;
}

export interface LoadResult {
  /** 2xx responses per second. */
  readonly rps: number;
  /** Milliseconds. */
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  /** Socket errors, timeouts and non-2xx answers. */
  readonly errors: number;
}

function run(spec: LoadRun): Promise<LoadResult> {
  const latencies = new Samples();
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        pipelining: 1,
        duration: spec.seconds,
        timeout: 10,
        ...(spec.headers ? { headers: spec.headers } : {}),
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
        const sorted = latencies.sorted();
        resolve({
          rps: latencies.length / elapsedS,
          p50: quantile(sorted, 0.5),
          p99: quantile(sorted, 0.99),
          ok: latencies.length,
          errors: result.errors + result.timeouts + result.non2xx,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}

serveParent({}, { run: (spec: LoadRun) => run(spec) });
