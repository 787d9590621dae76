// The speed goals, checked against one run's numbers (never asserted in tests). Each goal says
// what it compares, the figure measured and whether it was met; a goal whose contender did not
// run (nginx absent, a part skipped) is "not measured".

import { median } from './lib/stats';
import type { CostResults, Measured } from './proxy/index';
import type { OverheadRow } from './proxy/overhead';
import type { ScenarioResult } from './quality/index';

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  /** undefined: not measured in this run. */
  readonly met: boolean | undefined;
}

export function costCell(cost: CostResults | undefined, key: string, connections: number) {
  return cost?.rows.find((r) => r.contender.key === key)?.cells[connections];
}

export function qualityRow(
  quality: readonly ScenarioResult[] | undefined,
  scenario: string,
  key: string,
) {
  return quality
    ?.find((s) => s.scenario.key === scenario)
    ?.rows.find((r) => r.contender.key === key);
}

export interface Paired {
  /** Median of the per-round values. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/**
 * `combine(a, b)` for each round in which both contenders were measured at `connections`
 * (seconds apart), summarised: the median and the range over rounds.
 */
export function paired(
  cost: CostResults | undefined,
  a: string,
  b: string,
  connections: number,
  combine: (x: Measured, y: Measured) => number,
): Paired | undefined {
  const x = costCell(cost, a, connections)?.rounds;
  const y = costCell(cost, b, connections)?.rounds;
  if (!x || !y) return undefined;
  const values = x.slice(0, y.length).map((r, i) => combine(r, y[i]!));
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return undefined;
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite) };
}

export const rpsRatio = (x: Measured, y: Measured): number => x.rps / y.rps;
export const p99Added = (x: Measured, y: Measured): number => x.p99 - y.p99;
export const cpuRatio = (x: Measured, y: Measured): number => (x.cpuUs ?? NaN) / (y.cpuUs ?? NaN);

const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;

function throughputGoal(
  cost: CostResults | undefined,
  ours: string,
  floor: string,
  min: number,
  goal: string,
): Goal {
  const conns = cost?.settings.connections ?? [];
  const parts: string[] = [];
  let met: boolean | undefined = conns.length > 0 ? true : undefined;
  for (const c of conns) {
    const ratio = paired(cost, ours, floor, c, rpsRatio);
    if (!ratio) {
      met = undefined;
      break;
    }
    parts.push(
      `${ratio.median.toFixed(2)}× at ${c} conns (rounds ${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`,
    );
    if (ratio.median < min) met = false;
  }
  return { goal, measured: met === undefined ? 'not measured' : parts.join(', '), met };
}

function addedP99Goal(
  cost: CostResults | undefined,
  ours: string,
  floor: string,
  goal: string,
): Goal {
  const a = costCell(cost, ours, 50);
  const b = costCell(cost, floor, 50);
  const added = paired(cost, ours, floor, 50, p99Added);
  if (!a || !b || !added) return { goal, measured: 'not measured', met: undefined };
  const sign = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
  return {
    goal,
    measured:
      `${sign(added.median)} ms (median of per-round differences, rounds ${sign(added.min)} to ` +
      `${sign(added.max)}; medians ${a.p99.toFixed(2)} vs ${b.p99.toFixed(2)} ms)`,
    met: added.median <= 1,
  };
}

export function checkGoals(
  cost: CostResults | undefined,
  quality: readonly ScenarioResult[] | undefined,
  overhead?: readonly OverheadRow[],
): Goal[] {
  /** Adds the in-process CPU comparison (bench/proxy/overhead.ts) to a throughput goal. */
  const withCpu = (goal: Goal, ours: string, floor: string): Goal => {
    const x = overhead?.find((r) => r.name === ours);
    const y = overhead?.find((r) => r.name === floor);
    if (x?.ownUs === undefined || y?.ownUs === undefined) return goal;
    const ratio = x.ownUs / y.ownUs;
    return {
      ...goal,
      measured:
        `${goal.measured}. CPU per request in one process: ${ratio.toFixed(2)}× ` +
        `(${x.ownUs.toFixed(0)} vs ${y.ownUs.toFixed(0)} µs), i.e. about ${(1 / ratio).toFixed(2)}× ` +
        'the throughput when the core is the bottleneck',
    };
  };
  const goals: Goal[] = [
    withCpu(
      throughputGoal(
        cost,
        'balancer-rr',
        'http-proxy',
        0.9,
        'createBalancer() round-robin ≥ 0.90× bare http-proxy (req/s), (3)/(2)',
      ),
      'node:http + createBalancer()',
      'node:http + http-proxy',
    ),
    withCpu(
      throughputGoal(
        cost,
        'express-lb-rr',
        'express-http-proxy',
        0.95,
        'loadBalance() round-robin in Express ≥ 0.95× express + bare http-proxy, (8)/(6)',
      ),
      'express + loadBalance()',
      'express + http-proxy',
    ),
    withCpu(
      throughputGoal(
        cost,
        'express-lb-rr',
        'express-hpm',
        1.0,
        'loadBalance() round-robin in Express ≥ 1.0× express + http-proxy-middleware, (8)/(7)',
      ),
      'express + loadBalance()',
      'express + http-proxy-middleware 3',
    ),
    addedP99Goal(
      cost,
      'balancer-rr',
      'http-proxy',
      'p99 added over node:http + http-proxy ≤ 1 ms at 50 conns',
    ),
    addedP99Goal(
      cost,
      'express-lb-rr',
      'express-http-proxy',
      'p99 added over express + http-proxy ≤ 1 ms at 50 conns',
    ),
  ];

  const rt = qualityRow(quality, 'uneven', 'balancer-response-time')?.result?.overall;
  const rr = qualityRow(quality, 'uneven', 'balancer-round-robin')?.result?.overall;
  const lc = qualityRow(quality, 'uneven', 'nginx-lc')?.result?.overall;
  const ert = qualityRow(quality, 'uneven', 'express-response-time')?.result?.overall;
  const ratioGoal = (
    goal: string,
    a: number | undefined,
    b: number | undefined,
    max: number,
  ): Goal =>
    a === undefined || b === undefined
      ? { goal, measured: 'not measured', met: undefined }
      : {
          goal,
          measured: `${a.toFixed(2)} / ${b.toFixed(2)} ms = ${(a / b).toFixed(2)}×`,
          met: a / b <= max,
        };
  goals.push(
    ratioGoal(
      'uneven: createBalancer() response-time p99 ≤ 0.2× nginx least_conn p99',
      rt?.p99,
      lc?.p99,
      0.2,
    ),
    ratioGoal(
      'uneven: createBalancer() response-time p99 ≤ 0.2× our round-robin p99',
      rt?.p99,
      rr?.p99,
      0.2,
    ),
    ratioGoal(
      'uneven: loadBalance() in Express response-time p99 ≤ 0.5× nginx least_conn p99',
      ert?.p99,
      lc?.p99,
      0.5,
    ),
  );
  if (ert) {
    const share = (ert.perUpstream[2] ?? 0) / Math.max(1, ert.requests);
    goals.push({
      goal: 'uneven: loadBalance() in Express response-time sends ≤ 0.5 % of requests to the slow upstream',
      measured: pct(share),
      met: share <= 0.005,
    });
  } else {
    goals.push({
      goal: 'uneven: loadBalance() in Express response-time sends ≤ 0.5 % of requests to the slow upstream',
      measured: 'not measured',
      met: undefined,
    });
  }
  const outage = quality?.find((s) => s.scenario.key === 'outage');
  const ours = outage?.rows.filter((r) => r.contender.framework !== 'nginx' && r.result) ?? [];
  if (ours.length === 0) {
    goals.push({
      goal: 'outage: an upstream dying mid-run costs zero failed GETs',
      measured: 'not measured',
      met: undefined,
    });
  } else {
    const failed = ours.filter((r) => r.result!.overall.errors > 0);
    const total = ours.reduce((sum, r) => sum + r.result!.overall.errors, 0);
    goals.push({
      goal: 'outage: an upstream dying mid-run costs zero failed GETs (every algorithm, retries + passive health on)',
      measured:
        failed.length === 0
          ? `0 failed of ${ours.reduce((sum, r) => sum + r.result!.overall.requests, 0)} GETs`
          : `${total} failed (${failed.map((r) => r.contender.algorithm).join(', ')})`,
      met: failed.length === 0,
    });
  }
  return goals;
}
