// nginx as the reference proxy, when the `nginx` binary is installed (apt-get install nginx-light).
// Each start writes a config into a fresh temp dir (pid file, error log and temp paths there too),
// runs nginx in the foreground (`daemon off`, one worker) pinned like the other proxies, and
// stop() ends it by its PID and removes the dir. Listens on 127.0.0.1 only.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CPU, pinned, sleep, track } from './proc';

function findNginx(): string | undefined {
  for (const candidate of [
    '/usr/sbin/nginx',
    '/usr/local/sbin/nginx',
    '/usr/local/nginx/sbin/nginx',
  ]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : undefined;
}

export const NGINX_BIN = findNginx();

/** `nginx version: nginx/1.22.1` → `1.22.1`, or undefined when nginx is absent. */
export function nginxVersion(): string | undefined {
  if (!NGINX_BIN) return undefined;
  const out = spawnSync(NGINX_BIN, ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(`${out.stderr}${out.stdout}`)?.[1];
}

export type NginxBalance = 'round-robin' | 'least_conn';

export interface NginxProxy {
  readonly port: number;
  /** The master's PID (its workers are its children). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** A free port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function config(
  dir: string,
  port: number,
  upstreamPorts: readonly number[],
  balance: NginxBalance,
): string {
  const servers = upstreamPorts.map((p) => `    server 127.0.0.1:${p};`).join('\n');
  return `# written by bench/lib/nginx.ts for one benchmark run
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  upstream backend {
${balance === 'least_conn' ? '    least_conn;\n' : ''}${servers}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

export async function startNginx(
  upstreamPorts: readonly number[],
  balance: NginxBalance,
  cpu: string = CPU.proxy,
): Promise<NginxProxy> {
  if (!NGINX_BIN) throw new Error('nginx is not installed');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lb-bench-nginx-'));
  const port = await freePort();
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, config(dir, port, upstreamPorts, balance));
  const [command, args] = pinned(cpu, NGINX_BIN, [
    '-e',
    path.join(dir, 'error.log'),
    '-p',
    dir,
    '-c',
    file,
  ]);
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  track(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      // nice and taskset exec nginx, so this PID is nginx's master: TERM is its fast shutdown.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await connects(port)) return { port, pid: child.pid, stop };
    await sleep(50);
  }
  const log = fs.existsSync(path.join(dir, 'error.log'))
    ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8')
    : '';
  await stop();
  throw new Error(`nginx did not start: ${log.trim()}`);
}
