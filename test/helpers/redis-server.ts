// Test helper: a real, throwaway `redis-server` on 127.0.0.1 and a free port, with no persistence
// and its own temp dir. It can be killed and started again on the same port (outage tests) and
// frozen with SIGSTOP (hang tests). It owns only the processes it starts and stops them by PID;
// it never touches a Redis it did not start. describeWithRedis() decides what a missing binary
// means: a loud skip on a developer's machine, a failure under CI=true.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** PID of the running server; undefined while it is stopped. */
  readonly pid: number | undefined;
  /** SIGKILL, as a crash would: clients see their connections drop. Resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted) and waits for PING. */
  restart(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing is answered, as on a frozen host. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Stops it (resuming it first if paused) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

let binary: string | null | undefined;

/** `redis-server` when it runs here, else undefined. */
export function redisServerBinary(): string | undefined {
  if (binary === undefined) {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 10_000 });
    binary = probe.status === 0 ? 'redis-server' : null;
  }
  return binary ?? undefined;
}

/**
 * `describe` when redis-server exists. Without it: under CI=true a failing test (CI installs it,
 * so its absence is a broken run), elsewhere `describe.skip` and a message nobody can miss.
 */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisServerBinary()) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('redis-server is installed', () => {
        throw new Error(
          'redis-server not found on PATH, and CI=true: install it (apt-get install redis-server)',
        );
      });
    });
    return;
  }
  console.warn(
    [
      '',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      `!! SKIPPED: "${name}" needs redis-server, which is not on PATH.`,
      '!! Install it (Debian/Ubuntu: apt-get install redis-server) to run these tests.',
      '!! Under CI=true a missing redis-server fails the run instead.',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '',
    ].join('\n'),
  );
  describe.skip(name, body);
}

/** Starts redis-server on a free port and resolves once it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server is not installed');
  const dir = mkdtempSync(path.join(tmpdir(), 'lb-redis-'));
  let child: ChildProcess | undefined;
  let paused = false;
  let port = 0;
  let stopping: Promise<void> | undefined;

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || exitedAlready(proc)) return;
    const exited = exitOf(proc);
    if (paused) {
      proc.kill('SIGCONT'); // a stopped process never acts on SIGTERM
      paused = false;
    }
    proc.kill(signal);
    await exited;
  };

  try {
    // A port found free may be taken before redis-server binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      const candidate = await freePort();
      try {
        child = await launch(bin, candidate, dir);
        port = candidate;
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
      }
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    kill: () => terminate('SIGKILL'),
    async restart() {
      if (stopping) throw new Error('redis-server was stopped for good');
      await terminate('SIGKILL');
      // Same port, so clients reconnect to the address they know. Redis binds with SO_REUSEADDR,
      // so the old connections' TIME_WAIT is no obstacle; retry anyway, within a deadline.
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          child = await launch(bin, port, dir);
          return;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    },
    pause() {
      if (!child?.pid) throw new Error('redis-server is not running');
      process.kill(child.pid, 'SIGSTOP');
      paused = true;
    },
    resume() {
      if (!child?.pid || !paused) return;
      process.kill(child.pid, 'SIGCONT');
      paused = false;
    },
    stop() {
      stopping ??= terminate('SIGTERM').finally(() =>
        rmSync(dir, { recursive: true, force: true }),
      );
      return stopping;
    },
  };
}

/** Spawns redis-server on `port`; resolves once that very process (by PID) answers. */
async function launch(bin: string, port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (output.length < 10_000) output += chunk.toString('utf8');
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const exited = exitOf(proc);
  const deadline = Date.now() + 15_000;
  try {
    for (;;) {
      if (exitedAlready(proc)) throw new Error(`redis-server exited before answering:\n${output}`);
      // Checking the PID, not just PONG: another process may have taken the port meanwhile.
      if ((await serverPid(port)) === proc.pid) return proc;
      if (Date.now() > deadline) {
        throw new Error(`redis-server on port ${port} did not answer within 15 s:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    if (!exitedAlready(proc)) proc.kill('SIGKILL');
    await exited;
    throw error;
  }
}

function exitedAlready(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

function exitOf(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (exitedAlready(proc)) resolve();
    else proc.once('exit', () => resolve());
  });
}

/** A port nothing listens on right now: bind 0, read it, close. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * PING, then INFO over a raw socket: the server's process_id once it answers PONG, else undefined
 * (refused, loading, timed out). No client library, so the helper tests nothing it depends on.
 */
export function serverPid(port: number, timeoutMs = 1000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    let settled = false;
    const done = (pid: number | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\nINFO server\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n') && !reply.startsWith('+PONG')) return done(undefined);
      const match = /process_id:(\d+)\r\n/.exec(reply);
      if (match) done(Number(match[1]));
    });
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}

/**
 * One command over a raw socket, for checking what is in Redis without the client under test:
 * a bulk or simple string reply as a string, nil as null, an integer as its digits. Rejects on an
 * error reply, a refused connection or no answer within `timeoutMs`.
 */
export function rawCommand(port: number, args: string[], timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = Buffer.alloc(0);
    let settled = false;
    const done = (error: Error | undefined, value: string | null = null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      const parts = [`*${args.length}\r\n`];
      for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
      socket.write(parts.join(''));
    });
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const eol = reply.indexOf('\r\n');
      if (eol < 0) return;
      const head = reply.subarray(0, eol).toString('utf8');
      const type = head[0];
      if (type === '-') return done(new Error(head.slice(1)));
      if (type === '+' || type === ':') return done(undefined, head.slice(1));
      if (type !== '$') return done(new Error(`unexpected reply ${JSON.stringify(head)}`));
      const length = Number(head.slice(1));
      if (length < 0) return done(undefined, null);
      if (reply.length < eol + 2 + length + 2) return; // the rest is still coming
      done(undefined, reply.subarray(eol + 2, eol + 2 + length).toString('utf8'));
    });
    socket.on('error', (error) => done(error));
    socket.on('close', () => done(new Error('connection closed before a reply')));
  });
}
