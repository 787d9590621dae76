// `npm run bench`: the cost benchmark (bench/proxy), the decision benchmark (bench/quality) and
// the strategy micro-benchmark (bench/strategies.ts) in one run of under ten minutes on 2 cores,
// then BENCHMARKS.md, docs/bench-summary.svg and bench/results/latest.json. When a goal about
// cost is missed, the proxies concerned are profiled with `node --cpu-prof` and the profile's
// summary goes into BENCHMARKS.md.
//
// Options (after `--`): --only=cost,quality,strategies,profile  --quick (short, for development:
// writes to bench/results/ only, never BENCHMARKS.md)  --rounds=N  --contenders=key,key (cost)
// --report-only (re-render BENCHMARKS.md and the chart from bench/results/latest.json).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkGoals } from './goals';
import { machineInfo } from './lib/machine';
import { CPU, Worker } from './lib/proc';
import { runCostBench, type CostResults } from './proxy/index';
import type { OverheadRow } from './proxy/overhead';
import { profileContenders, type ProfileResult } from './proxy/profile';
import { runQualityBench, type ScenarioResult } from './quality/index';
import { writeReport, type BenchResults } from './report';
import { runStrategyBench, type StrategyBenchRow } from './strategies';

function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  const arg = process.argv.find((a) => a === `--${name}` || a.startsWith(prefix));
  if (arg === undefined) return undefined;
  return arg.startsWith(prefix) ? arg.slice(prefix.length) : '';
}

async function main(): Promise<void> {
  if (flag('report-only') !== undefined) {
    // Re-renders BENCHMARKS.md and the chart from the last full run (e.g. after editing the
    // hand-written section or the report's layout); measures nothing.
    const root = process.cwd();
    const file = path.join(root, 'bench', 'results', 'latest.json');
    const results = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResults;
    await writeReport(results, {
      markdown: path.join(root, 'BENCHMARKS.md'),
      chart: path.join(root, 'docs', 'bench-summary.svg'),
      json: file,
    });
    console.log(
      're-rendered BENCHMARKS.md and docs/bench-summary.svg from bench/results/latest.json',
    );
    return;
  }
  const started = Date.now();
  const quick = flag('quick') !== undefined;
  const only = flag('only')?.split(',');
  const want = (part: string): boolean => only === undefined || only.includes(part);
  const root = process.cwd();
  const resultsDir = path.join(root, 'bench', 'results');
  fs.mkdirSync(path.join(resultsDir, 'raw'), { recursive: true });
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const log = (line: string): void => console.log(line);
  const loadAverage: Record<string, number> = {};
  const mark = (part: string): void => {
    loadAverage[part] = os.loadavg()[0]!;
  };

  const machine = machineInfo();
  log(
    `bench: ${machine.nproc} × ${machine.cpuModel}, Node ${machine.node}, nginx ${machine.nginx ?? 'absent'}, load ${os.loadavg()[0]!.toFixed(2)}`,
  );

  let cost: CostResults | undefined;
  if (want('cost')) {
    mark('cost');
    log(`cost (bench/proxy) — ${elapsed()}`);
    cost = await runCostBench({
      rounds: Number(flag('rounds') ?? (quick ? 1 : 5)),
      connections: [10, 50],
      warmupSeconds: 1,
      seconds: 1,
      log,
      ...(flag('contenders') ? { only: flag('contenders')!.split(',') } : {}),
    });
  }

  let overhead: OverheadRow[] | undefined;
  if (want('cost')) {
    log(`CPU per request, one process (bench/proxy/overhead.ts) — ${elapsed()}`);
    const worker = await Worker.start('proxy/overhead.js', {}, { cpu: CPU.proxy });
    try {
      overhead = await worker.call<OverheadRow[]>('run', {
        rounds: quick ? 4 : 8,
        requests: 1500,
      });
    } finally {
      await worker.stop();
    }
    for (const row of overhead)
      log(
        `  ${row.name}: ${row.totalUs.toFixed(1)} µs` +
          (row.vsFloor === undefined
            ? ''
            : `, own ${row.ownUs!.toFixed(1)} µs = ${row.vsFloor.toFixed(2)}× ${row.floor}'s`),
      );
  }

  let quality: ScenarioResult[] | undefined;
  if (want('quality')) {
    mark('quality');
    log(`decisions (bench/quality) — ${elapsed()}`);
    quality = await runQualityBench({ timeScale: quick ? 0.4 : 1, connections: 10, log });
  }

  let strategies: StrategyBenchRow[] | undefined;
  if (want('strategies')) {
    mark('strategies');
    log(`strategy cost (bench/strategies.ts) — ${elapsed()}`);
    strategies = await runStrategyBench(quick ? { timeMs: 100 } : {});
  }

  let goals = checkGoals(cost, quality, overhead);
  // Profile the proxies whose cost goal was missed (or all three on request).
  let profiles: ProfileResult[] | undefined;
  const missedCost = goals.slice(0, 5).some((g) => g.met === false);
  if (want('profile') && (missedCost || only?.includes('profile'))) {
    mark('profile');
    log(`profiles (node --cpu-prof) — ${elapsed()}`);
    profiles = await profileContenders(['http-proxy', 'balancer-rr', 'express-lb-rr'], {
      connections: 50,
      warmupSeconds: 1,
      seconds: quick ? 2 : 4,
      dir: path.join(resultsDir, 'raw', 'profiles'),
    });
    goals = checkGoals(cost, quality, overhead);
  }
  mark('end');

  const results: BenchResults = {
    machine,
    loadAverage,
    seconds: (Date.now() - started) / 1000,
    command: quick ? 'npm run bench -- --quick' : 'npm run bench',
    ...(cost ? { cost } : {}),
    ...(overhead ? { overhead } : {}),
    ...(quality ? { quality } : {}),
    ...(strategies ? { strategies } : {}),
    ...(profiles ? { profiles } : {}),
    goals,
  };
  const partial = quick || only !== undefined || flag('contenders') !== undefined;
  const files = partial
    ? {
        markdown: path.join(resultsDir, 'raw', 'BENCHMARKS.partial.md'),
        chart: path.join(resultsDir, 'raw', 'bench-summary.partial.svg'),
        json: path.join(resultsDir, 'raw', 'partial.json'),
      }
    : {
        markdown: path.join(root, 'BENCHMARKS.md'),
        chart: path.join(root, 'docs', 'bench-summary.svg'),
        json: path.join(resultsDir, 'latest.json'),
      };
  fs.mkdirSync(path.dirname(files.chart), { recursive: true });
  if (partial && fs.existsSync(path.join(root, 'BENCHMARKS.md')) && !fs.existsSync(files.markdown))
    fs.copyFileSync(path.join(root, 'BENCHMARKS.md'), files.markdown);
  await writeReport(results, files);
  log('');
  for (const g of goals)
    log(`${g.met === undefined ? 'n/a   ' : g.met ? 'met   ' : 'MISSED'} ${g.goal}: ${g.measured}`);
  log(
    `\nwrote ${path.relative(root, files.markdown)}, ${path.relative(root, files.chart)}, ${path.relative(root, files.json)} in ${elapsed()}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
