// The decision benchmark: how good each algorithm's choices are when upstreams are uneven. Same
// placement as the cost benchmark (proxy alone on CPU 0, upstreams and load on CPU 1), a closed
// loop of keep-alive clients with per-request latencies (quality/loader.ts), and three scenarios:
//   uneven    two upstreams answer in 1 ms, one in 51 ms (the headline);
//   slowdown  all answer in 1 ms; one takes 51 ms for two seconds mid-run, then recovers;
//   outage    all answer in 1 ms; one dies mid-run (connections reset, connects refused) and
//             comes back two seconds later.
// Every algorithm runs behind createBalancer() in a plain node:http server with the default
// options (retries 2, passive health on); loadBalance() in Express runs round-robin and
// response-time on the headline; nginx round robin and least_conn are the reference.

import type { AlgorithmName } from '../../src/strategies/registry';
import { algorithmNames } from '../../src/strategies/registry';
import { NGINX_BIN, startNginx, type NginxBalance } from '../lib/nginx';
import { CPU, Worker } from '../lib/proc';
import type { UpstreamsReady, UpstreamsSpec } from '../lib/upstreams';
import type { ContenderReady, ContenderSpec } from '../proxy/contender';
import type { QualityResult, QualityRun, Summary } from './loader';

export interface QualityContender {
  readonly key: string;
  readonly label: string;
  readonly framework: 'node' | 'express' | 'nginx';
  readonly algorithm?: AlgorithmName;
  readonly nginx?: NginxBalance;
}

export type Action =
  | {
      readonly atMs: number;
      readonly type: 'setDelay';
      readonly index: number;
      readonly ms: number;
    }
  | { readonly atMs: number; readonly type: 'kill' | 'revive'; readonly index: number };

export interface Phase {
  readonly name: string;
  readonly fromMs: number;
  readonly toMs: number;
}

export interface Scenario {
  readonly key: 'uneven' | 'slowdown' | 'outage';
  readonly title: string;
  readonly delays: readonly number[];
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly actions: readonly Action[];
  /** Stretches of the measured run reported on their own (empty: the whole run only). */
  readonly phases: readonly Phase[];
  /** The upstream the scenario is about (slow, slowing, dying). */
  readonly subject: number;
  readonly contenders: readonly QualityContender[];
}

const node = (algorithm: AlgorithmName): QualityContender => ({
  key: `balancer-${algorithm}`,
  label: `createBalancer() ${algorithm}`,
  framework: 'node',
  algorithm,
});

const NGINX_CONTENDERS: readonly QualityContender[] = [
  { key: 'nginx-rr', label: 'nginx round robin', framework: 'nginx', nginx: 'round-robin' },
  { key: 'nginx-lc', label: 'nginx least_conn', framework: 'nginx', nginx: 'least_conn' },
];

export interface QualitySettings {
  /** Scale of every duration (1 = the full run). */
  readonly timeScale: number;
  readonly connections: number;
  readonly log: (line: string) => void;
  /** Runs only what this accepts (development). */
  readonly filter?: (scenario: Scenario['key'], contender: string) => boolean;
}

export function scenarios(
  settings: Pick<QualitySettings, 'timeScale' | 'connections'>,
): Scenario[] {
  const s = (ms: number): number => Math.round(ms * settings.timeScale);
  const everyAlgorithm = algorithmNames.map(node);
  return [
    {
      key: 'uneven',
      title: 'Uneven upstreams: 1 ms, 1 ms and 51 ms',
      delays: [1, 1, 51],
      connections: settings.connections,
      warmupMs: s(1000),
      durationMs: s(5000),
      actions: [],
      phases: [],
      subject: 2,
      contenders: [
        ...everyAlgorithm,
        {
          key: 'express-round-robin',
          label: 'loadBalance() in Express, round-robin',
          framework: 'express',
          algorithm: 'round-robin',
        },
        {
          key: 'express-response-time',
          label: 'loadBalance() in Express, response-time',
          framework: 'express',
          algorithm: 'response-time',
        },
        ...NGINX_CONTENDERS,
      ],
    },
    {
      key: 'slowdown',
      title: 'One upstream slows down to 51 ms for 2 s, then recovers',
      delays: [1, 1, 1],
      connections: settings.connections,
      warmupMs: s(1000),
      durationMs: s(7000),
      actions: [
        { atMs: s(2000), type: 'setDelay', index: 2, ms: 51 },
        { atMs: s(4000), type: 'setDelay', index: 2, ms: 1 },
      ],
      phases: [
        { name: 'before', fromMs: 0, toMs: s(2000) },
        { name: 'slow', fromMs: s(2000), toMs: s(4000) },
        { name: 'recovered', fromMs: s(4000), toMs: s(7000) },
      ],
      subject: 2,
      contenders: [...everyAlgorithm, ...NGINX_CONTENDERS],
    },
    {
      key: 'outage',
      title: 'One upstream dies for 2 s and comes back',
      delays: [1, 1, 1],
      connections: settings.connections,
      warmupMs: s(1000),
      durationMs: s(7000),
      actions: [
        { atMs: s(2000), type: 'kill', index: 2 },
        { atMs: s(4000), type: 'revive', index: 2 },
      ],
      phases: [
        { name: 'before', fromMs: 0, toMs: s(2000) },
        { name: 'down', fromMs: s(2000), toMs: s(4000) },
        { name: 'back', fromMs: s(4000), toMs: s(7000) },
      ],
      subject: 2,
      contenders: [...everyAlgorithm, ...NGINX_CONTENDERS],
    },
  ];
}

export interface QualityRow {
  readonly contender: QualityContender;
  readonly result?: QualityResult;
  /** Per phase (same order as the scenario's), when the scenario has phases. */
  readonly phases: Summary[];
  readonly skipped?: string;
}

export interface ScenarioResult {
  readonly scenario: Omit<Scenario, 'contenders'>;
  readonly windowMs: number;
  readonly rows: QualityRow[];
}

const WINDOW_MS = 250;

interface Running {
  readonly url: string;
  stop(): Promise<void>;
}

async function startProxy(contender: QualityContender, ports: readonly number[]): Promise<Running> {
  if (contender.nginx) {
    const nginx = await startNginx(ports, contender.nginx);
    return { url: `http://127.0.0.1:${nginx.port}/`, stop: () => nginx.stop() };
  }
  const spec: ContenderSpec = {
    kind: contender.framework === 'express' ? 'express-balancer' : 'balancer',
    upstreams: ports.map((p) => `http://127.0.0.1:${p}`),
    options: {
      algorithm: contender.algorithm!,
      ...(contender.algorithm === 'hash' ? { hashKey: 'header:x-key' } : {}),
    },
  };
  const worker = await Worker.start<ContenderReady>('proxy/contender.js', spec, { cpu: CPU.proxy });
  const { port } = await worker.ready;
  return { url: `http://127.0.0.1:${port}/`, stop: () => worker.stop() };
}

export async function runQualityBench(settings: QualitySettings): Promise<ScenarioResult[]> {
  const { log } = settings;
  const results: ScenarioResult[] = [];
  const loader = await Worker.start('quality/loader.js', {}, { cpu: CPU.load });
  try {
    for (const scenario of scenarios(settings)) {
      log(`  ${scenario.title}`);
      const upstreams = await Worker.start<UpstreamsReady>(
        'lib/upstreams.js',
        { delays: scenario.delays } satisfies UpstreamsSpec,
        { cpu: CPU.upstreams },
      );
      const { ports } = await upstreams.ready;
      const rows: QualityRow[] = [];
      try {
        for (const contender of scenario.contenders) {
          if (settings.filter && !settings.filter(scenario.key, contender.key)) continue;
          if (contender.nginx && !NGINX_BIN) {
            rows.push({ contender, phases: [], skipped: 'nginx is not installed' });
            continue;
          }
          for (const [index, ms] of scenario.delays.entries())
            await upstreams.call('setDelay', { index, ms });
          const proxy = await startProxy(contender, ports);
          const timers: NodeJS.Timeout[] = [];
          let result: QualityResult;
          try {
            const running = loader.call<QualityResult>('run', {
              url: proxy.url,
              connections: scenario.connections,
              warmupMs: scenario.warmupMs,
              durationMs: scenario.durationMs,
              windowMs: WINDOW_MS,
              upstreams: scenario.delays.length,
              phases: scenario.phases,
            } satisfies QualityRun);
            const actionsDone = scenario.actions.map(
              (action) =>
                new Promise<void>((resolve, reject) => {
                  timers.push(
                    setTimeout(() => {
                      const { atMs: _at, type, ...args } = action;
                      upstreams.call(type, args).then(() => resolve(), reject);
                    }, scenario.warmupMs + action.atMs),
                  );
                }),
            );
            result = await running;
            await Promise.all(actionsDone);
          } finally {
            for (const timer of timers) clearTimeout(timer);
            await proxy.stop();
          }
          rows.push({ contender, result, phases: result.phases });
          const o = result.overall;
          const share = (100 * (o.perUpstream[scenario.subject] ?? 0)) / Math.max(1, o.requests);
          log(
            `    ${contender.key}: ${o.requests} requests, p50 ${o.p50.toFixed(2)} p99 ${o.p99.toFixed(2)} ` +
              `p99.9 ${o.p999.toFixed(2)} ms, ${o.errors} errors, u${scenario.subject} ${share.toFixed(2)} %` +
              (result.errorSamples.length > 0 ? ` (${result.errorSamples.join('; ')})` : ''),
          );
        }
      } finally {
        await upstreams.stop();
      }
      const { contenders: _c, ...rest } = scenario;
      results.push({ scenario: rest, windowMs: WINDOW_MS, rows });
    }
  } finally {
    await loader.stop();
  }
  return results;
}
