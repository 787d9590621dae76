// `npm run soak`: the reliability soak. Five minutes (SOAK_SECONDS) of 100 keep-alive connections
// (SOAK_CONNECTIONS) of GETs through createBalancer() with passive health on, in front of three
// upstreams, one of which is killed (SIGKILL) and restarted every 30 s (SOAK_KILL_EVERY, seconds;
// down for SOAK_DOWN_MS). It passes when: no GET failed, the balancer's RSS stayed flat (within
// 10 %) after warm-up, its open file descriptors came back to the count before the load, every
// in-flight count is 0 at the end, and stats() totals equal what the load generator counted.
// It prints the figures as a markdown section and exits 1 when a criterion failed.
//
// Every part runs in its own process, so the balancer's RSS and descriptors are its own: this
// file is the orchestrator and, run with a role argument, each child:
//   node .run/bench/soak.js upstream <name> <port>   one upstream (port 0 the first time)
//   node .run/bench/soak.js balancer <url>...        the balancer (answers "stats" on stdin)
//   node .run/bench/soak.js load <url> <connections> the load generator (stops on "stop")
// Children report one JSON object per stdout line. Linux only (/proc).

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { createBalancer, type LoadBalancerStats } from 'loadbalance-middleware';

type Line = Record<string, unknown>;

function report(line: Line): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Calls `onLine` for each stdin line; `onEnd` when stdin closes (the parent went away). */
function commands(onLine: (line: string) => void, onEnd: () => void): void {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => onLine(line.trim()));
  lines.on('close', onEnd);
}

// ------------------------------------------------------------------------------- upstream

/** A small, fast upstream. Answers every request with 200 and a fixed body naming itself. */
function runUpstream(name: string, port: number): void {
  const body = Buffer.from(`ok ${name} ${'.'.repeat(100)}\n`);
  const server = http.createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.setHeader('content-length', body.length);
    res.end(body);
  });
  server.listen(port, '127.0.0.1', () => {
    report({ event: 'listening', port: (server.address() as AddressInfo).port });
  });
  commands(
    () => {},
    () => process.exit(0),
  );
}

// ------------------------------------------------------------------------------- balancer

function runBalancer(upstreams: string[]): void {
  const events = { retry: 0, eject: 0, proxyError: 0, health: 0 };
  const balancer = createBalancer({
    upstreams,
    passiveHealth: { failures: 3, ejectFor: 5_000 },
    healthCheck: { interval: 1_000, timeout: 500 },
  });
  balancer.on('retry', () => events.retry++);
  balancer.on('eject', () => events.eject++);
  balancer.on('proxyError', () => events.proxyError++);
  balancer.on('health', () => events.health++);
  const server = http.createServer((req, res) => balancer.handle(req, res));
  server.listen(0, '127.0.0.1', () => {
    report({ event: 'listening', port: (server.address() as AddressInfo).port, pid: process.pid });
  });
  commands(
    (line) => {
      if (line === 'stats') report({ event: 'stats', stats: balancer.stats(), events });
    },
    () => {
      server.close();
      server.closeAllConnections();
      void balancer.close().then(() => process.exit(0));
    },
  );
}

// ------------------------------------------------------------------------- load generator

interface Counts {
  sent: number;
  ok: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  /** Responses that were 200 but cut off or with an unexpected body. */
  badBodies: number;
  latencySumMs: number;
  latencyMaxMs: number;
  /** Latency histogram: bucket i counts responses that took [i, i + 1) × 0.1 ms (the last: more). */
  histogram: number[];
}

const BUCKETS = 100_000; // 0.1 ms each: up to 10 s

/** The latency (ms) at quantile q of a histogram. */
function quantile(histogram: readonly number[], q: number): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= q * total) return (i + 1) / 10;
  }
  return histogram.length / 10;
}

/** `connections` loops of sequential GETs over one keep-alive agent; counts every response. */
function runLoad(target: string, connections: number): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const counts: Counts = {
    sent: 0,
    ok: 0,
    statuses: {},
    errors: {},
    badBodies: 0,
    latencySumMs: 0,
    latencyMaxMs: 0,
    histogram: [],
  };
  const histogram = new Uint32Array(BUCKETS);
  let stopping = false;
  const once = (path: string) =>
    new Promise<void>((resolve) => {
      counts.sent++;
      const started = performance.now();
      const req = http.get(`${target}${path}`, { agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', () => {});
        res.on('close', () => {
          const status = String(res.statusCode ?? 0);
          counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
          const body = Buffer.concat(chunks).toString();
          if (res.statusCode === 200) {
            if (res.complete && body.startsWith('ok ')) counts.ok++;
            else counts.badBodies++;
          }
          const ms = performance.now() - started;
          counts.latencySumMs += ms;
          counts.latencyMaxMs = Math.max(counts.latencyMaxMs, ms);
          histogram[Math.min(BUCKETS - 1, Math.floor(ms * 10))]!++;
          resolve();
        });
      });
      req.on('error', (error: Error & { code?: string }) => {
        const code = error.code ?? error.message;
        counts.errors[code] = (counts.errors[code] ?? 0) + 1;
        resolve();
      });
    });
  const loops = Array.from({ length: connections }, async (_, i) => {
    for (let n = 0; !stopping; n++) await once(`/soak/${i}/${n}`);
  });
  report({ event: 'started' });
  commands(
    (line) => {
      if (line !== 'stop' || stopping) return;
      stopping = true;
      // Every request already sent is awaited, so the counts are final.
      void Promise.all(loops).then(() => {
        agent.destroy();
        counts.histogram = Array.from(histogram);
        report({ event: 'counts', counts });
      });
    },
    () => process.exit(0),
  );
}

// --------------------------------------------------------------------------- orchestrator

interface Child {
  readonly process: ChildProcess;
  next(event: string, timeoutMs?: number): Promise<Line>;
  send(line: string): void;
  /** Ends stdin and waits for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  readonly exited: Promise<void>;
}

function child(args: string[]): Child {
  const proc = spawn(process.execPath, [__filename, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const waiting: Array<(line: Line) => boolean> = [];
  const backlog: Line[] = [];
  createInterface({ input: proc.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    const i = waiting.findIndex((accept) => accept(line));
    if (i >= 0) waiting.splice(i, 1);
    else backlog.push(line);
  });
  return {
    process: proc,
    exited,
    next: (event, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const queued = backlog.findIndex((line) => line.event === event);
        if (queued >= 0) return resolve(backlog.splice(queued, 1)[0]!);
        const timer = setTimeout(() => reject(new Error(`${args[0]}: no ${event}`)), timeoutMs);
        waiting.push((line) => {
          if (line.event !== event) return false;
          clearTimeout(timer);
          resolve(line);
          return true;
        });
      }),
    send: (line) => {
      proc.stdin.write(`${line}\n`);
    },
    stop: async () => {
      proc.stdin.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

function fdsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const int = (n: number) => n.toLocaleString('en-US');

async function orchestrate(): Promise<void> {
  const seconds = Number(process.env.SOAK_SECONDS ?? 300);
  const connections = Number(process.env.SOAK_CONNECTIONS ?? 100);
  const killEvery = Number(process.env.SOAK_KILL_EVERY ?? 30);
  const downMs = Number(process.env.SOAK_DOWN_MS ?? 2_000);
  const warmUpSeconds = Math.min(60, Math.max(5, Math.round(seconds * 0.2)));

  // Three upstreams, each restartable on its own port.
  const names = ['a', 'b', 'c'];
  const upstreams: Child[] = [];
  const ports: number[] = [];
  for (const name of names) {
    const u = child(['upstream', name, '0']);
    ports.push((await u.next('listening')).port as number);
    upstreams.push(u);
  }
  const urls = ports.map((port) => `http://127.0.0.1:${port}`);
  const balancer = child(['balancer', ...urls]);
  const listening = await balancer.next('listening');
  const pid = listening.pid as number;
  const target = `http://127.0.0.1:${listening.port as number}`;
  const stats = async () => {
    balancer.send('stats');
    const line = await balancer.next('stats');
    return {
      stats: line.stats as LoadBalancerStats,
      events: line.events as Record<string, number>,
    };
  };

  // Before any load: let the first probes pass, then the descriptor count (the minimum of a few
  // samples, since a probe's socket may be open at any one of them).
  await sleep(2_000);
  let fdsStart = Infinity;
  for (let i = 0; i < 10; i++, await sleep(100)) fdsStart = Math.min(fdsStart, fdsOf(pid));
  const rssStart = rssOf(pid);

  const load = child(['load', target, String(connections)]);
  await load.next('started');
  const t0 = Date.now();
  const rss: Array<{ t: number; bytes: number }> = [];
  const sampler = setInterval(
    () => rss.push({ t: (Date.now() - t0) / 1000, bytes: rssOf(pid) }),
    1_000,
  );

  // Kill and restart one upstream every killEvery seconds, in turn.
  let kills = 0;
  let chaos: Promise<void> = Promise.resolve();
  const killer = setInterval(() => {
    const index = kills % upstreams.length;
    kills++;
    chaos = chaos.then(async () => {
      upstreams[index]!.process.kill('SIGKILL');
      await upstreams[index]!.exited;
      await sleep(downMs);
      const restarted = child(['upstream', names[index]!, String(ports[index])]);
      await restarted.next('listening');
      upstreams[index] = restarted;
    });
  }, killEvery * 1_000);

  await sleep(seconds * 1_000);
  clearInterval(killer);
  load.send('stop');
  const counted = (await load.next('counts', 60_000)).counts as Counts;
  const elapsed = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  await load.stop();
  await chaos;

  // After the load: in flight back to 0, descriptors back to the start (idle keep-alive sockets
  // to the upstreams close on the upstreams' keepAliveTimeout, 5 s).
  const deadline = Date.now() + 30_000;
  let final = await stats();
  while (final.stats.upstreams.some((u) => u.activeConnections !== 0) && Date.now() < deadline) {
    await sleep(200);
    final = await stats();
  }
  let fdsEnd = fdsOf(pid);
  while (fdsEnd > fdsStart && Date.now() < deadline) {
    await sleep(200);
    fdsEnd = fdsOf(pid);
  }
  final = await stats();

  const after = rss.filter((s) => s.t >= warmUpSeconds).map((s) => s.bytes);
  const third = Math.max(1, Math.floor(after.length / 3));
  const rssEarly = mean(after.slice(0, third));
  const rssLate = mean(after.slice(-third));
  const drift = rssEarly > 0 ? (rssLate - rssEarly) / rssEarly : 0;

  const failedGets = counted.sent - counted.ok;
  const inFlight = final.stats.upstreams.map((u) => u.activeConnections);
  const checks: Array<[string, boolean]> = [
    ['zero failed GETs', failedGets === 0],
    ['RSS flat within 10 % after warm-up', after.length > 0 && Math.abs(drift) <= 0.1],
    ['open fds back to the start count', fdsEnd <= fdsStart],
    ['every in-flight count 0', inFlight.every((n) => n === 0)],
    ['stats totalRequests = requests sent', final.stats.totalRequests === counted.sent],
    ['stats successfulRequests = 200s counted', final.stats.successfulRequests === counted.ok],
    ['stats failedRequests = failures counted', final.stats.failedRequests === failedGets],
  ];

  const lines = [
    `### Soak: ${Math.round(elapsed)} s, ${connections} keep-alive connections, one upstream killed every ${killEvery} s`,
    '',
    `Three upstreams behind \`createBalancer()\` (passive health \`failures: 3, ejectFor: 5000\`, TCP probes every 1 s), one` +
      ` upstream SIGKILLed and restarted ${downMs / 1000} s later every ${killEvery} s; GETs from a separate process, each response counted.` +
      ` Node ${process.version}, ${process.platform}/${process.arch}.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| requests (GET) | ${int(counted.sent)} (${int(Math.round(counted.sent / elapsed))} req/s, mean ${(counted.latencySumMs / Math.max(counted.sent, 1)).toFixed(1)} ms) |`,
    `| latency p50 / p99 / p99.9 / max | ${[0.5, 0.99, 0.999].map((q) => `${quantile(counted.histogram, q).toFixed(1)} ms`).join(' / ')} / ${counted.latencyMaxMs.toFixed(0)} ms |`,
    `| failed GETs | ${int(failedGets)} (statuses ${JSON.stringify(counted.statuses)}, errors ${JSON.stringify(counted.errors)}, bad bodies ${counted.badBodies}) |`,
    `| upstream kills / restarts | ${kills} |`,
    `| balancer events | ${final.events.retry} retries, ${final.events.eject} ejections, ${final.events.proxyError} proxy errors, ${final.events.health} health changes |`,
    `| RSS before load → after warm-up (${warmUpSeconds} s) → end | ${mb(rssStart)} → ${mb(rssEarly)} → ${mb(rssLate)} (drift ${(drift * 100).toFixed(1)} %, min ${mb(Math.min(...after))}, max ${mb(Math.max(...after))}) |`,
    `| open fds before → after | ${fdsStart} → ${fdsEnd} |`,
    `| in flight at the end | ${inFlight.join(', ')} |`,
    `| stats() vs counted | total ${int(final.stats.totalRequests)} / ${int(counted.sent)}, successful ${int(final.stats.successfulRequests)} / ${int(counted.ok)}, failed ${int(final.stats.failedRequests)} / ${int(failedGets)} |`,
    '',
    ...checks.map(([name, ok]) => `- ${ok ? 'pass' : 'FAIL'}: ${name}`),
  ];
  console.log(lines.join('\n'));

  await balancer.stop();
  await Promise.all(upstreams.map((u) => u.stop()));
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
}

const [role, ...args] = process.argv.slice(2);
if (role === 'upstream') runUpstream(args[0]!, Number(args[1]));
else if (role === 'balancer') runBalancer(args);
else if (role === 'load') runLoad(args[0]!, Number(args[1]));
else
  void orchestrate().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
