// Owns the strategy micro-benchmark: nanoseconds per pick for every built-in algorithm at 3,
// 100 and 10,000 upstreams. Must not touch the network or the balancer: strategies only.
//
// Each measured iteration makes BATCH picks, and around each pick does what the balancer does:
// in-flight +1 and onRequestStart for the picked upstream, and once CONCURRENCY requests are
// open, in-flight −1 and onRequestEnd (with a latency) for the oldest. So loads churn as in
// real traffic, least-connections pays for keeping its heap current, and response-time has
// estimates to compare. The figures include those hooks: they are the per-request cost.
//
// Run: npm run bench (bench/run.ts), or compile with tsc -p tsconfig.run.json and run
// node .run/bench/strategies.js for this table alone.

import { Bench } from 'tinybench';
import { seededRandom, type Clock } from '../src/clock';
import { algorithmNames, createStrategy, type AlgorithmName } from '../src/strategies/registry';
import type { PickContext, Strategy } from '../src/strategies/strategy';
import type { HealthState, UpstreamView } from '../src/upstream';

export interface StrategyBenchRow {
  strategy: string;
  upstreams: number;
  nsPerPick: number;
}

const SIZES = [3, 100, 10_000] as const;
const BATCH = 1_000;
const CONCURRENCY = 32;
const KEYS = 4_096;

interface BenchUpstream extends UpstreamView {
  inFlight: number;
  health: HealthState;
}

/** Everything one (strategy, size) task needs, built before timing starts. */
function fixture(algorithm: AlgorithmName, size: number) {
  const random = seededRandom(size);
  const upstreams: BenchUpstream[] = Array.from({ length: size }, (_, i) => ({
    id: `upstream-${i}`,
    url: `http://10.0.${i >> 8}.${i & 255}:8080`,
    weight: 1 + (i % 4),
    inFlight: 0,
    health: 'healthy',
  }));
  const candidates: readonly UpstreamView[] = Object.freeze(upstreams.slice());
  const strategy: Strategy = createStrategy(algorithm, random);
  strategy.onMembersChanged?.(candidates);

  let time = 0;
  const clock: Clock = { now: () => time };
  const keys = Array.from({ length: KEYS }, (_, i) => `192.168.${(i >> 8) & 255}.${i & 255}`);
  const contexts: PickContext[] = keys.map((key) => ({ clock, random, key }));
  const open: BenchUpstream[] = new Array<BenchUpstream>(CONCURRENCY);
  let head = 0;
  let count = 0;
  let n = 0;

  const batch = (): void => {
    for (let b = 0; b < BATCH; b++) {
      time += 0.01;
      const u = strategy.pick(candidates, contexts[n++ & (KEYS - 1)]!) as BenchUpstream;
      u.inFlight++;
      strategy.onRequestStart?.(u);
      if (count === CONCURRENCY) {
        const done = open[head]!;
        done.inFlight--;
        // Latencies differ per upstream so response-time has something to prefer.
        const latencyMs = 1 + (done.weight & 3) * 5;
        strategy.onRequestEnd?.(done, { kind: 'response', status: 200, latencyMs });
        open[head] = u;
        head = (head + 1) % CONCURRENCY;
      } else {
        open[(head + count++) % CONCURRENCY] = u;
      }
    }
  };
  return batch;
}

export async function runStrategyBench(
  options: { timeMs?: number; sizes?: readonly number[] } = {},
): Promise<StrategyBenchRow[]> {
  const bench = new Bench({
    name: 'strategies',
    time: options.timeMs ?? 300,
    warmupTime: 100,
    iterations: 10,
    throws: true,
  });
  const labels = new Map<string, { strategy: string; upstreams: number }>();
  for (const algorithm of algorithmNames) {
    for (const size of options.sizes ?? SIZES) {
      const label = `${algorithm} × ${size}`;
      labels.set(label, { strategy: algorithm, upstreams: size });
      bench.add(label, fixture(algorithm, size));
    }
  }
  await bench.run();
  const rows: StrategyBenchRow[] = [];
  for (const task of bench.tasks) {
    const result = task.result;
    const meta = labels.get(task.name);
    if (meta === undefined || !('latency' in result)) {
      throw new Error(`strategy bench: ${task.name} did not complete (${result.state})`);
    }
    rows.push({ ...meta, nsPerPick: (result.latency.mean * 1e6) / BATCH });
  }
  return rows;
}

/** The rows as a markdown table, one line per strategy, one column per pool size. */
export function formatStrategyTable(rows: readonly StrategyBenchRow[]): string {
  const sizes = [...new Set(rows.map((r) => r.upstreams))];
  const lines = [
    `| strategy | ${sizes.map((s) => `${s.toLocaleString('en-US')} upstreams`).join(' | ')} |`,
    `|---|${sizes.map(() => '---:').join('|')}|`,
  ];
  for (const strategy of new Set(rows.map((r) => r.strategy))) {
    const cells = sizes.map((size) => {
      const row = rows.find((r) => r.strategy === strategy && r.upstreams === size);
      return row === undefined ? '' : `${row.nsPerPick.toFixed(0)} ns`;
    });
    lines.push(`| ${strategy} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

if (require.main === module) {
  runStrategyBench().then(
    (rows) => {
      console.log('ns per pick, including the onRequestStart/onRequestEnd hooks around it:\n');
      console.log(formatStrategyTable(rows));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
