// The cost benchmark: what each proxy costs against going direct. Every contender runs in its
// own process pinned to CPU 0; the upstreams and the load generator share CPU 1. All contenders
// are started and warmed up first; then rounds measure them interleaved (A B C … A B C …), a
// short slice per contender and connection count, so a burst of outside load hits one slice of
// each rather than all of one contender. Medians over rounds are reported, and ratios are the
// median of per-round ratios (each pair measured seconds apart).

import http from 'node:http';
import { NGINX_BIN, startNginx, type NginxBalance } from '../lib/nginx';
import { cpuSeconds } from '../lib/cpu';
import { CPU, Worker } from '../lib/proc';
import { median } from '../lib/stats';
import type { UpstreamsReady, UpstreamsSpec } from '../lib/upstreams';
import type { ContenderReady, ContenderSpec } from './contender';
import type { LoadResult, LoadRun } from './loader';

export type Group = 'direct' | 'node' | 'express' | 'nginx';

export interface CostContender {
  /** Short stable key, used in ratios and the JSON results. */
  readonly key: string;
  /** Number in the method's list and the table's label. */
  readonly label: string;
  readonly group: Group;
  readonly spec?: Omit<ContenderSpec, 'upstreams'>;
  readonly nginx?: NginxBalance;
  /** Send the sticky cookie a first request got, as a returning client would. */
  readonly stickyCookie?: boolean;
}

export const COST_CONTENDERS: readonly CostContender[] = [
  { key: 'direct', label: '(1) direct to one upstream', group: 'direct' },
  {
    key: 'http-proxy',
    label: '(2) node:http + http-proxy',
    group: 'node',
    spec: { kind: 'http-proxy' },
  },
  {
    key: 'balancer-rr',
    label: '(3) node:http + createBalancer() round-robin',
    group: 'node',
    spec: { kind: 'balancer', options: { algorithm: 'round-robin' } },
  },
  { key: 'httpxy', label: '(4) node:http + httpxy', group: 'node', spec: { kind: 'httpxy' } },
  { key: 'undici', label: '(5) node:http + undici Pool', group: 'node', spec: { kind: 'undici' } },
  {
    key: 'express-http-proxy',
    label: '(6) express + http-proxy',
    group: 'express',
    spec: { kind: 'express-http-proxy' },
  },
  {
    key: 'express-hpm',
    label: '(7) express + http-proxy-middleware 3 (router)',
    group: 'express',
    spec: { kind: 'express-hpm' },
  },
  {
    key: 'express-lb-rr',
    label: '(8) express + loadBalance() round-robin',
    group: 'express',
    spec: { kind: 'express-balancer', options: { algorithm: 'round-robin' } },
  },
  {
    key: 'express-lb-lc',
    label: '(8) express + loadBalance() least-connections',
    group: 'express',
    spec: { kind: 'express-balancer', options: { algorithm: 'least-connections' } },
  },
  {
    key: 'express-lb-rt',
    label: '(8) express + loadBalance() response-time',
    group: 'express',
    spec: { kind: 'express-balancer', options: { algorithm: 'response-time' } },
  },
  {
    key: 'express-lb-sticky',
    label: '(8) express + loadBalance() round-robin, sticky',
    group: 'express',
    spec: { kind: 'express-balancer', options: { algorithm: 'round-robin', sticky: true } },
    stickyCookie: true,
  },
  { key: 'nginx', label: '(9) nginx upstream, keepalive 64', group: 'nginx', nginx: 'round-robin' },
];

export interface CostSettings {
  readonly rounds: number;
  readonly connections: readonly number[];
  readonly warmupSeconds: number;
  readonly seconds: number;
  readonly log: (line: string) => void;
  /** Runs only these contenders (development). */
  readonly only?: readonly string[];
}

/** One measured stretch: the load generator's figures and the proxy's CPU time. */
export interface Measured extends LoadResult {
  /** CPU microseconds the proxy process used per 2xx response (undefined: direct, or no /proc). */
  readonly cpuUs?: number;
  /** Share of one core the proxy used, percent. */
  readonly cpuPercent?: number;
}

export interface CostCell {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly cpuUs: number;
  readonly cpuPercent: number;
  /** Every round's figures, for the raw results. */
  readonly rounds: readonly Measured[];
}

export interface CostRow {
  readonly contender: CostContender;
  /** By connection count; absent when the contender was skipped. */
  readonly cells: Record<number, CostCell>;
  readonly skipped?: string;
}

export interface CostResults {
  readonly settings: Omit<CostSettings, 'log'>;
  readonly rows: readonly CostRow[];
}

interface Running {
  readonly url: string;
  /** The proxy's process, for its CPU time (undefined for direct). */
  readonly pid?: number | undefined;
  stop(): Promise<void>;
}

function firstCookie(url: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        const cookie = res.headers['set-cookie']?.[0]?.split(';')[0];
        res.once('end', () => resolve(cookie));
      })
      .once('error', reject);
  });
}

async function startContender(
  contender: CostContender,
  upstreamPorts: readonly number[],
  execArgv: readonly string[] = [],
): Promise<Running> {
  if (contender.group === 'direct') {
    return { url: `http://127.0.0.1:${upstreamPorts[0]}/`, stop: async () => {} };
  }
  if (contender.nginx) {
    const nginx = await startNginx(upstreamPorts, contender.nginx);
    return { url: `http://127.0.0.1:${nginx.port}/`, pid: nginx.pid, stop: () => nginx.stop() };
  }
  const spec: ContenderSpec = {
    ...contender.spec!,
    upstreams: upstreamPorts.map((p) => `http://127.0.0.1:${p}`),
  };
  const worker = await Worker.start<ContenderReady>('proxy/contender.js', spec, {
    cpu: CPU.proxy,
    execArgv,
  });
  const { port } = await worker.ready;
  return { url: `http://127.0.0.1:${port}/`, pid: worker.pid, stop: () => worker.stop() };
}

export { startContender as startCostContender };

export async function runCostBench(settings: CostSettings): Promise<CostResults> {
  const { log } = settings;
  const upstreams = await Worker.start<UpstreamsReady>(
    'lib/upstreams.js',
    { delays: [0, 0, 0] } satisfies UpstreamsSpec,
    { cpu: CPU.upstreams },
  );
  const loader = await Worker.start('proxy/loader.js', {}, { cpu: CPU.load });
  const { ports } = await upstreams.ready;
  const contenders = COST_CONTENDERS.filter(
    (c) => (!c.nginx || NGINX_BIN) && (!settings.only || settings.only.includes(c.key)),
  );
  const perRound = new Map<string, Map<number, Measured[]>>();
  const running = new Map<string, Running & { headers: Record<string, string> }>();
  try {
    // The load generator and the upstreams are long-lived: warm their JIT before anything counts.
    await loader.call<LoadResult>('run', {
      url: `http://127.0.0.1:${ports[0]}/`,
      connections: Math.max(...settings.connections),
      seconds: 2,
    } satisfies LoadRun);
    // Every contender runs from the start, each in its own process (idle ones cost nothing), and
    // is warmed up once; then the rounds measure them in turn, a short slice each.
    for (const contender of contenders) {
      const proxy = await startContender(contender, ports);
      const headers: Record<string, string> = {};
      running.set(contender.key, { ...proxy, headers });
      if (contender.stickyCookie) {
        const cookie = await firstCookie(proxy.url);
        if (cookie) headers.cookie = cookie;
      }
      await loader.call<LoadResult>('run', {
        url: proxy.url,
        connections: Math.max(...settings.connections),
        seconds: settings.warmupSeconds,
        headers,
      } satisfies LoadRun);
    }
    for (let round = 1; round <= settings.rounds; round++) {
      for (const contender of contenders) {
        const proxy = running.get(contender.key)!;
        const cells = perRound.get(contender.key) ?? new Map<number, Measured[]>();
        perRound.set(contender.key, cells);
        const parts: string[] = [];
        for (const connections of settings.connections) {
          const cpuBefore = cpuSeconds(proxy.pid);
          const startedAt = process.hrtime.bigint();
          const load = await loader.call<LoadResult>('run', {
            url: proxy.url,
            connections,
            seconds: settings.seconds,
            headers: proxy.headers,
          } satisfies LoadRun);
          const wallS = Number(process.hrtime.bigint() - startedAt) / 1e9;
          const cpuAfter = cpuSeconds(proxy.pid);
          const cpu =
            cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
          const result: Measured =
            cpu === undefined
              ? load
              : {
                  ...load,
                  cpuUs: (cpu * 1e6) / Math.max(1, load.ok),
                  cpuPercent: (100 * cpu) / wallS,
                };
          cells.set(connections, [...(cells.get(connections) ?? []), result]);
          parts.push(
            `c${connections} ${result.rps.toFixed(0)} req/s p99 ${result.p99.toFixed(2)} ms` +
              (result.cpuUs === undefined
                ? ''
                : ` ${result.cpuUs.toFixed(0)} µs CPU/req (${result.cpuPercent!.toFixed(0)} % busy)`) +
              (result.errors > 0 ? ` ${result.errors} errors` : ''),
          );
        }
        log(`  round ${round} ${contender.key}: ${parts.join(', ')}`);
      }
    }
  } finally {
    for (const proxy of running.values()) await proxy.stop();
    await loader.stop();
    await upstreams.stop();
  }
  const rows: CostRow[] = COST_CONTENDERS.map((contender) => {
    const byConnections = perRound.get(contender.key);
    if (!byConnections)
      return {
        contender,
        cells: {},
        skipped: contender.nginx && !NGINX_BIN ? 'nginx is not installed' : 'not run',
      };
    const cells: Record<number, CostCell> = {};
    for (const [connections, results] of byConnections) {
      cells[connections] = {
        rps: median(results.map((r) => r.rps)),
        p50: median(results.map((r) => r.p50)),
        p99: median(results.map((r) => r.p99)),
        errors: results.reduce((sum, r) => sum + r.errors, 0),
        cpuUs: median(results.map((r) => r.cpuUs ?? NaN)),
        cpuPercent: median(results.map((r) => r.cpuPercent ?? NaN)),
        rounds: results,
      };
    }
    return { contender, cells };
  });
  const { log: _log, only: _only, ...rest } = settings;
  return { settings: rest, rows };
}
