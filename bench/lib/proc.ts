// Child processes for the benchmarks: each server and load generator runs in its own Node
// process, pinned to a CPU with `taskset` when it exists, and talks to the orchestrator over an
// IPC channel with numbered requests. Every child started here is tracked and killed when the
// orchestrator exits, so an interrupted run leaves nothing behind.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const HAS_TASKSET = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;

/** CPU placement: the proxy under test alone on one core, everything else on the other. */
export const CPU = { proxy: '0', load: '1', upstreams: '1' } as const;

/**
 * Niceness of every benchmark process. On a shared machine other work (test suites, compilers)
 * competes for both cores; a higher priority for the processes under test keeps that from
 * dominating the figures. Default -10 when running as root (only root may raise priority), 0
 * otherwise; BENCH_NICE=0 turns it off.
 */
export const NICE = (() => {
  const env = process.env.BENCH_NICE;
  if (env !== undefined && env !== '' && Number.isInteger(Number(env))) return Number(env);
  return process.getuid?.() === 0 ? -10 : 0;
})();

/**
 * The command line that runs `command` pinned to `cpu` (taskset, when installed) at NICE
 * priority (nice). Both exec the command, so the child's PID is the command's own.
 */
export function pinned(cpu: string, command: string, args: readonly string[]): [string, string[]] {
  const line = HAS_TASKSET ? ['taskset', '-c', cpu, command, ...args] : [command, ...args];
  if (NICE !== 0) line.unshift('nice', '-n', String(NICE));
  return [line[0]!, line.slice(1)];
}

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const child of live) child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Tracks a process started elsewhere (nginx) so it is killed if the orchestrator dies. */
export function track(child: ChildProcess): void {
  installExitHook();
  live.add(child);
  child.once('exit', () => live.delete(child));
}

export interface WorkerOptions {
  readonly cpu: string;
  /** Extra node flags, e.g. --cpu-prof. */
  readonly execArgv?: readonly string[];
  /** Milliseconds to wait for the child's 'ready' message. */
  readonly readyTimeoutMs?: number;
}

/** A Node child process running one of the compiled bench scripts. */
export class Worker<Ready = unknown> {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly exited: Promise<number | null>;
  readonly ready: Promise<Ready>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.ready = new Promise<Ready>((resolve, reject) => {
      child.on('message', (message: { type?: string; ready?: Ready } & Partial<Reply>) => {
        if (message.type === 'ready') resolve(message.ready as Ready);
        else if (typeof message.id === 'number') this.pending.get(message.id)?.(message as Reply);
      });
      void this.exited.then((code) => {
        reject(new Error(`worker exited (${code}) before it was ready`));
        for (const settle of this.pending.values())
          settle({ id: 0, ok: false, error: `worker exited (${code})` });
        this.pending.clear();
      });
    });
  }

  /** Starts `script` (a path relative to the compiled .run/bench folder) with JSON `spec`. */
  static async start<R>(script: string, spec: unknown, options: WorkerOptions): Promise<Worker<R>> {
    installExitHook();
    const file = path.join(__dirname, '..', script);
    const [command, args] = pinned(options.cpu, process.execPath, [
      ...(options.execArgv ?? []),
      file,
      JSON.stringify(spec),
    ]);
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    track(child);
    const worker = new Worker<R>(child);
    const timeout = options.readyTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        worker.ready,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${script}: not ready in ${timeout} ms`)),
            timeout,
          );
        }),
      ]);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return worker;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends one command and resolves with the child's answer. */
  call<T>(type: string, args: unknown = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, (reply) => {
        this.pending.delete(id);
        if (reply.ok) resolve(reply.result as T);
        else reject(new Error(`${type}: ${reply.error}`));
      });
      this.child.send({ id, type, args });
    });
  }

  /** Asks the child to close its servers and exit; kills it if it has not within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      this.child.send({ id: 0, type: 'stop', args: {} });
    } catch {
      // the channel is already gone
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

type Handler = (args: never) => unknown;

/**
 * The child side: announces `ready`, answers commands with `handlers`, and on 'stop' runs
 * `onStop` then exits (so --cpu-prof writes its profile).
 */
export function serveParent(
  ready: unknown,
  handlers: Record<string, Handler>,
  onStop: () => Promise<void> | void = () => {},
): void {
  const send = (message: unknown): void => {
    if (process.connected) process.send?.(message);
  };
  process.on('message', (message: { id: number; type: string; args: unknown }) => {
    if (message.type === 'stop') {
      void Promise.resolve()
        .then(onStop)
        .finally(() => process.exit(0));
      return;
    }
    const handler = handlers[message.type];
    if (!handler) {
      send({ id: message.id, ok: false, error: `unknown command ${message.type}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(message.args as never))
      .then(
        (result) => send({ id: message.id, ok: true, result }),
        (error: unknown) => send({ id: message.id, ok: false, error: String(error) }),
      );
  });
  // Orphaned (the orchestrator died): leave at once.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', ready });
}

/** The JSON spec a child was started with. */
export function specOf<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
