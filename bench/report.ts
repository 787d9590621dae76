// Writes BENCHMARKS.md and the chart from one run's results. Everything between the
// hand-written markers of the previous BENCHMARKS.md is carried over untouched, so the
// interpretation written by a person survives a re-run (and should be re-read against the new
// numbers).

import fs from 'node:fs';
import type { Goal } from './goals';
import { costCell, cpuRatio, paired, p99Added, rpsRatio } from './goals';
import { barChartSvg, type Bar, type Panel } from './lib/chart';
import type { MachineInfo } from './lib/machine';
import { CPU, HAS_TASKSET, NICE } from './lib/proc';
import type { CostResults } from './proxy/index';
import type { OverheadRow } from './proxy/overhead';
import type { ProfileResult } from './proxy/profile';
import type { ScenarioResult } from './quality/index';
import type { Summary } from './quality/loader';
import { formatStrategyTable, type StrategyBenchRow } from './strategies';

export interface BenchResults {
  readonly machine: MachineInfo;
  /** 1-minute load average when each part started and when the run ended. */
  readonly loadAverage: Record<string, number>;
  readonly seconds: number;
  readonly command: string;
  readonly cost?: CostResults;
  readonly overhead?: OverheadRow[];
  readonly quality?: ScenarioResult[];
  readonly strategies?: StrategyBenchRow[];
  readonly profiles?: ProfileResult[];
  readonly goals: Goal[];
}

export const HAND_START = '<!-- hand-written:start (kept by npm run bench) -->';
export const HAND_END = '<!-- hand-written:end -->';

const PLACEHOLDER = `## What the numbers say

(Write the interpretation here: it is kept when \`npm run bench\` rewrites the tables.)`;

/** The hand-written section of an existing BENCHMARKS.md, markers excluded. */
export function handWritten(previous: string | undefined): string {
  if (previous === undefined) return PLACEHOLDER;
  const start = previous.indexOf(HAND_START);
  const end = previous.indexOf(HAND_END);
  if (start < 0 || end < start) return PLACEHOLDER;
  return previous.slice(start + HAND_START.length, end).trim();
}

const ms = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(2);
const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a / b) ? '–' : `${(a / b).toFixed(2)}×`;
const share = (s: Summary, i: number): string =>
  s.requests === 0 ? '–' : `${((100 * (s.perUpstream[i] ?? 0)) / s.requests).toFixed(1)}`;
const shareFine = (s: Summary, i: number): string =>
  s.requests === 0 ? '–' : `${((100 * (s.perUpstream[i] ?? 0)) / s.requests).toFixed(2)}`;

function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  align?: string,
): string {
  const sep = align ?? head.map((_, i) => (i === 0 ? '---' : '---:')).join('|');
  return [`| ${head.join(' | ')} |`, `|${sep}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );
}

function goalsSection(goals: readonly Goal[]): string {
  const mark = (met: boolean | undefined): string =>
    met === undefined ? 'not measured' : met ? '**met**' : '**missed**';
  return table(
    ['goal', 'measured', ''],
    goals.map((g) => [g.goal, g.measured, mark(g.met)]),
    '---|---|---',
  );
}

function machineSection(r: BenchResults): string {
  const m = r.machine;
  const load = Object.entries(r.loadAverage)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  // The run's own proxy, load generator and upstreams account for about 2 to 3 of the load.
  const busy = Object.values(r.loadAverage).some((v) => v > m.nproc + 2);
  return [
    `- Date: ${m.date}`,
    `- Machine: ${m.nproc} CPUs (\`nproc\`), ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.kernel}`,
    `- Node ${m.node}; ${Object.entries(m.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; nginx ${m.nginx ?? 'not installed'}`,
    `- Load average (1 min) during the run: ${load} (the benchmark's own processes account for about 2 to 3).` +
      (busy
        ? ' **Other work shared this machine: absolute figures are low and noisy; the interleaved ratios and the CPU per request are the meaningful part.**'
        : ''),
    `- Whole run: ${Math.round(r.seconds)} s.`,
  ].join('\n');
}

function placement(): string {
  if (!HAS_TASKSET)
    return 'taskset was not found: processes were not pinned (say so when comparing).';
  return (
    `Pinned with \`taskset\`: the proxy under test alone on CPU ${CPU.proxy}; the load generator ` +
    `and the upstreams share CPU ${CPU.load}. The same for every contender (nginx too: master and its one worker).` +
    (NICE !== 0
      ? ` Every benchmark process runs at nice ${NICE} (BENCH_NICE; 0 turns it off), so other work on a shared machine disturbs it less.`
      : '')
  );
}

function costSection(cost: CostResults): string {
  const { settings } = cost;
  const parts: string[] = [];
  for (const c of settings.connections) {
    const direct = costCell(cost, 'direct', c);
    const rows = cost.rows.map((row) => {
      const cell = row.cells[c];
      if (!cell) return [row.contender.label, row.skipped ?? 'not run', '', '', '', '', '', ''];
      return [
        row.contender.label,
        int(cell.rps),
        ratio(cell.rps, direct?.rps),
        ms(cell.p50),
        ms(cell.p99),
        Number.isFinite(cell.cpuUs) ? cell.cpuUs.toFixed(0) : '–',
        Number.isFinite(cell.cpuPercent) ? cell.cpuPercent.toFixed(0) : '–',
        String(cell.errors),
      ];
    });
    parts.push(
      `### ${c} connections\n\n` +
        table(
          [
            'contender',
            'req/s',
            '× direct',
            'p50 ms',
            'p99 ms',
            'proxy CPU µs/req',
            'proxy busy %',
            'errors',
          ],
          rows,
        ),
    );
  }
  const ratios: Array<[string, string, string]> = [
    ['(3)/(2) createBalancer() ÷ node:http + http-proxy', 'balancer-rr', 'http-proxy'],
    [
      '(8)/(6) loadBalance() round-robin ÷ express + http-proxy',
      'express-lb-rr',
      'express-http-proxy',
    ],
    [
      '(8)/(7) loadBalance() round-robin ÷ express + http-proxy-middleware',
      'express-lb-rr',
      'express-hpm',
    ],
    ['(8) least-connections ÷ (6)', 'express-lb-lc', 'express-http-proxy'],
    ['(8) response-time ÷ (6)', 'express-lb-rt', 'express-http-proxy'],
    ['(8) sticky ÷ (6)', 'express-lb-sticky', 'express-http-proxy'],
    ['(4)/(2) httpxy ÷ http-proxy', 'httpxy', 'http-proxy'],
    ['(5)/(2) undici ÷ http-proxy', 'undici', 'http-proxy'],
    ['(3)/(9) createBalancer() ÷ nginx', 'balancer-rr', 'nginx'],
  ];
  const range = (
    p: { median: number; min: number; max: number } | undefined,
    digits: number,
    unit: string,
  ): string =>
    p === undefined
      ? '–'
      : `${p.median.toFixed(digits)}${unit} (${p.min.toFixed(digits)}–${p.max.toFixed(digits)})`;
  const ratioRows = ratios.map(([label, a, b]) => [
    label,
    ...settings.connections.flatMap((c) => [
      range(paired(cost, a, b, c, rpsRatio), 2, '×'),
      range(paired(cost, a, b, c, cpuRatio), 2, '×'),
      range(paired(cost, a, b, c, p99Added), 2, ''),
    ]),
  ]);
  parts.push(
    '### Ratios\n\nMedian of the per-round ratios (both measured seconds apart in the same round), ' +
      "with the range over rounds in brackets. CPU: the proxy process's CPU time per request, " +
      'a ratio above 1 means the first costs more.\n\n' +
      table(
        [
          '',
          ...settings.connections.flatMap((c) => [
            `req/s at ${c}`,
            `CPU/req at ${c}`,
            `p99 added at ${c}, ms`,
          ]),
        ],
        ratioRows,
      ),
  );
  return parts.join('\n\n');
}

function engineSection(cost: CostResults): string {
  const lines: string[] = [];
  for (const c of cost.settings.connections) {
    const hp = costCell(cost, 'http-proxy', c);
    const xy = costCell(cost, 'httpxy', c);
    const un = costCell(cost, 'undici', c);
    if (!hp) continue;
    const r = (key: string): string => {
      const p = paired(cost, key, 'http-proxy', c, rpsRatio);
      const cpu = paired(cost, key, 'http-proxy', c, cpuRatio);
      return p === undefined
        ? '–'
        : `${p.median.toFixed(2)}× the throughput, ${cpu ? cpu.median.toFixed(2) : '–'}× the CPU per request`;
    };
    lines.push(
      `- ${c} connections: httpxy ${r('httpxy')} (p99 ${ms(xy?.p99)} vs ${ms(hp.p99)} ms); ` +
        `undici ${r('undici')} (p99 ${ms(un?.p99)} ms).`,
    );
  }
  return lines.join('\n');
}

function uneven(s: ScenarioResult): string {
  const rows = s.rows.map((row) => {
    const o = row.result?.overall;
    if (!o) return [row.contender.label, row.skipped ?? 'not run', '', '', '', '', '', '', '', ''];
    return [
      row.contender.label,
      int(o.requests),
      ms(o.p50),
      ms(o.p99),
      ms(o.p999),
      ms(o.max),
      String(o.errors),
      share(o, 0),
      share(o, 1),
      shareFine(o, 2),
    ];
  });
  return table(
    [
      '',
      'requests',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'errors',
      'u0 %',
      'u1 %',
      'u2 (slow) %',
    ],
    rows,
  );
}

function phased(s: ScenarioResult): string {
  const subject = s.scenario.subject;
  const phases = s.scenario.phases;
  const head = [
    '',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'errors',
    ...phases.flatMap((p) => [`${p.name}: p99 ms`, `${p.name}: u${subject} %`]),
  ];
  const rows = s.rows.map((row) => {
    const o = row.result?.overall;
    if (!o) return [row.contender.label, row.skipped ?? 'not run', ...head.slice(2).map(() => '')];
    return [
      row.contender.label,
      ms(o.p50),
      ms(o.p99),
      ms(o.p999),
      String(o.errors),
      ...row.phases.flatMap((p) => [ms(p.p99), share(p, subject)]),
    ];
  });
  return table(head, rows);
}

function qualitySection(quality: readonly ScenarioResult[]): string {
  return quality
    .map((s) => {
      const sc = s.scenario;
      const events =
        sc.actions.length === 0
          ? ''
          : ` Events (from the start of the measured run): ${sc.actions
              .map((a) =>
                a.type === 'setDelay'
                  ? `${(a.atMs / 1000).toFixed(1)} s u${a.index} → ${a.ms} ms`
                  : `${(a.atMs / 1000).toFixed(1)} s u${a.index} ${a.type === 'kill' ? 'dies' : 'back'}`,
              )
              .join('; ')}.`;
      const head =
        `### ${sc.key}: ${sc.title}\n\n` +
        `Upstream delays ${sc.delays.map((d, i) => `u${i} ${d} ms`).join(', ')}; ${sc.connections} keep-alive ` +
        `connections in a closed loop; ${(sc.warmupMs / 1000).toFixed(1)} s warm-up, then ` +
        `${(sc.durationMs / 1000).toFixed(1)} s measured.${events}`;
      return `${head}\n\n${sc.phases.length === 0 ? uneven(s) : phased(s)}`;
    })
    .join('\n\n');
}

function profileSection(profiles: readonly ProfileResult[]): string {
  return profiles
    .map((p) => {
      const s = p.summary;
      const busy = 100 - s.idlePercent;
      return [
        `### ${p.label}`,
        '',
        `${int(p.load.rps)} req/s at the profiled load; ${s.samples} samples from the first request on ` +
          `(${s.startupSamples} start-up samples left out), ${busy.toFixed(1)} % busy (the rest idle in ` +
          'the event loop). Percentages are of those samples.',
        '',
        table(
          ['layer (inclusive)', '% of samples'],
          s.layers.filter((l) => l.percent >= 0.5).map((l) => [l.name, l.percent.toFixed(1)]),
        ),
        '',
        s.ownInclusive.length > 0
          ? table(
              ['this package, inclusive (file:line function)', '% of samples'],
              s.ownInclusive.slice(0, 10).map((l) => [`\`${l.name}\``, l.percent.toFixed(1)]),
            )
          : '',
        '',
        table(
          ['top self time (file:line function)', '% of samples'],
          s.topSelf.slice(0, 10).map((l) => [`\`${l.name}\``, l.percent.toFixed(1)]),
        ),
      ].join('\n');
    })
    .join('\n\n');
}

export function renderMarkdown(r: BenchResults, hand: string): string {
  const cost = r.cost;
  const sections: string[] = [
    '# Benchmarks',
    '',
    `What the balancer costs against going direct and against what people run today, and how good ` +
      `its decisions are when upstreams are uneven. Generated by \`${r.command}\` ` +
      '(bench/run.ts); the method is in the design notes and summarised below. ' +
      '![summary chart](docs/bench-summary.svg)',
    '',
    '## Goals',
    '',
    goalsSection(r.goals),
    '',
    HAND_START,
    '',
    hand,
    '',
    HAND_END,
    '',
    '## Machine',
    '',
    machineSection(r),
    '',
    '## Method',
    '',
    `- Commands: \`npm run bench\` = \`npm run build && tsc -p tsconfig.run.json && node .run/bench/run.js\`. ` +
      'Every server and the load generators run as separate Node processes (bench/lib/proc.ts), nginx as its own binary.',
    `- Placement: ${placement()}`,
    '- Upstreams (bench/lib/upstreams.ts): node:http servers on 127.0.0.1, keep-alive, answering `GET /` ' +
      'with a 100-byte body and an `x-upstream` header, after a per-upstream delay in the decision benchmark.',
  ];
  if (cost) {
    const s = cost.settings;
    sections.push(
      `- Cost (bench/proxy/): autocannon 9 in its own process, ${s.connections.join(' and ')} connections, ` +
        `no pipelining. Every contender is started (its own process) and warmed up ${s.warmupSeconds} s at ` +
        `${Math.max(...s.connections)} connections first; then ${s.rounds} rounds measure them in turn ` +
        `(A B C … A B C …), ${s.seconds} s per contender and connection count, so a burst of outside load ` +
        'spoils one slice of each contender rather than all of one. Medians over rounds are reported; ' +
        'ratios are medians of per-round ratios. The proxy process’s CPU time (/proc) gives its CPU per ' +
        'request and how busy its core was. Latency of every 2xx response ' +
        "from autocannon's 'response' event (float ms; autocannon's own histogram keeps whole ms). " +
        'Three upstreams, no delay; the proxies rotate over them; "direct" hits one.',
    );
  }
  sections.push(
    '- Decisions (bench/quality/): a closed-loop generator (undici Pool, one request in flight per ' +
      'connection) records every request with `process.hrtime`: latency, the upstream that answered ' +
      '(`x-upstream`), failure (socket error or non-200). No coordinated-omission correction. Each ' +
      'contender is started fresh with default options (retries 2, passive health on, TCP probes ' +
      "every 5 s); 'hash' uses `hashKey: 'header:x-key'` with a random key per request.",
    '- Strategy cost (bench/strategies.ts): tinybench, in-process, `pick()` plus the start/end hooks.',
    '',
  );
  if (cost) {
    sections.push('## Cost: what the proxy costs', '', costSection(cost), '');
    sections.push(
      '### The engine: httpxy and undici against http-proxy',
      '',
      'Bare forwarders in plain node:http, same agent settings, same rotation:',
      '',
      engineSection(cost),
      '',
    );
  }
  if (r.overhead) {
    sections.push(
      '### CPU per request, in one process',
      '',
      'bench/proxy/overhead.ts: client, forwarder and upstream in one process pinned to CPU ' +
        `${CPU.proxy}, 10 requests in flight, forwarders alternated; process.cpuUsage() per request, ` +
        'medians. Time lost to other processes is not counted, so this is the steadiest cost figure ' +
        'on a shared machine. "Own" subtracts the direct row (client and upstream alone); when a ' +
        "proxy's core is the bottleneck, throughput is about the inverse of its own CPU per request.",
      '',
      table(
        ['', 'CPU µs/req in all', 'forwarder’s own µs/req', '× the same-framework floor’s'],
        r.overhead.map((row) => [
          row.name,
          row.totalUs.toFixed(1),
          row.ownUs === undefined ? '–' : row.ownUs.toFixed(1),
          row.vsFloor === undefined ? '–' : `${row.vsFloor.toFixed(2)}× (${row.floor})`,
        ]),
      ),
      '',
    );
  }
  if (r.quality) sections.push('## Decisions: uneven upstreams', '', qualitySection(r.quality), '');
  if (r.strategies) {
    sections.push(
      '## Strategy cost: ns per pick',
      '',
      'Including the onRequestStart/onRequestEnd hooks around each pick, 32 requests in flight.',
      '',
      formatStrategyTable(r.strategies),
      '',
    );
  }
  if (r.profiles && r.profiles.length > 0) {
    sections.push(
      '## Profiles: where the time goes',
      '',
      '`node --cpu-prof` on the proxy process, same placement and load as the cost benchmark ' +
        `(${r.profiles[0]!.load.ok > 0 ? '50 connections' : ''}). Layers are inclusive: a sample counts for every layer on its stack.`,
      '',
      profileSection(r.profiles),
      '',
    );
  }
  return sections.join('\n');
}

export function renderChart(r: BenchResults): string {
  const panels: Panel[] = [];
  const cost = r.cost;
  if (cost) {
    const c = Math.max(...cost.settings.connections);
    const bars: Bar[] = cost.rows
      .filter((row) => row.cells[c])
      .map((row) => ({
        label: row.contender.label,
        value: row.cells[c]!.rps,
        ours: row.contender.key === 'balancer-rr' || row.contender.key.startsWith('express-lb'),
      }));
    panels.push({
      title: `Cost: requests/s through each proxy, ${c} connections (higher is better)`,
      unit: 'requests per second, median of the rounds',
      bars,
    });
  }
  const uneven = r.quality?.find((s) => s.scenario.key === 'uneven');
  if (uneven) {
    const bars: Bar[] = uneven.rows
      .filter((row) => row.result)
      .map((row) => {
        const o = row.result!.overall;
        const slow = (100 * (o.perUpstream[2] ?? 0)) / Math.max(1, o.requests);
        return {
          label: row.contender.label,
          value: o.p99,
          ours: row.contender.framework !== 'nginx',
          note: `ms  (${slow.toFixed(slow < 1 ? 2 : 1)} % to the slow one)`,
        };
      });
    panels.push({
      title: 'Decisions: p99 latency, upstreams at 1, 1 and 51 ms (lower is better)',
      unit: 'milliseconds per request, 10 connections',
      bars,
      decimals: 1,
    });
  }
  return barChartSvg(
    panels,
    `loadbalance-middleware, npm run bench, ${r.machine.date.slice(0, 10)}: ${r.machine.nproc} × ${r.machine.cpuModel}, Node ${r.machine.node}. Blue: this package.`,
  );
}

/** The markdown as the repository's prettier config formats it, so `npm run lint` stays clean. */
async function formatted(markdown: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(markdown, { ...options, filepath: file });
  } catch {
    return markdown; // prettier is a devDependency: without it, the plain output
  }
}

export async function writeReport(
  r: BenchResults,
  files: { markdown: string; chart: string; json: string },
): Promise<void> {
  const previous = fs.existsSync(files.markdown)
    ? fs.readFileSync(files.markdown, 'utf8')
    : undefined;
  const markdown = renderMarkdown(r, handWritten(previous));
  fs.writeFileSync(files.markdown, await formatted(markdown, files.markdown));
  fs.writeFileSync(files.chart, renderChart(r));
  fs.writeFileSync(files.json, JSON.stringify(r) + '\n');
}
