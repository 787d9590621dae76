// The example gateway as `npm start` runs it: a child process serving both demo pools, which
// exits 0 on SIGTERM; and the same gateway driven by a config file.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { send } from '../helpers/client';
import { echoUpstream } from '../helpers/echo';

const root = path.join(__dirname, '../..');

interface Gateway {
  child: ChildProcess;
  base: string;
  output: () => string;
}

function startGateway(args: string[] = []): Promise<Gateway> {
  const child = spawn(
    process.execPath,
    [
      '-r',
      path.join(root, 'test/helpers/ts-register.js'),
      path.join(root, 'examples/gateway.ts'),
      ...args,
    ],
    { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the gateway did not start within 20 s:\n${output}`));
    }, 20_000);
    const onData = (): void => {
      const match = /example gateway on (http:\/\/localhost:\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve({ child, base: match[1]!, output: () => output });
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code}:\n${output}`));
    });
  });
}

function stop(gateway: Gateway, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      gateway.child.kill('SIGKILL');
      reject(new Error(`the gateway did not exit within 10 s of ${signal}`));
    }, 10_000);
    gateway.child.removeAllListeners('exit');
    gateway.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    gateway.child.kill(signal);
  });
}

test('npm start: both demo pools answer, and SIGTERM exits 0', async () => {
  const gateway = await startGateway();
  try {
    const instances = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const reply = await send(`${gateway.base}/api/users/42`);
      expect(reply.status).toBe(200);
      const body = reply.json<{ service: string; instance: string; path: string }>();
      expect(body).toMatchObject({ service: 'users', path: '/42' });
      instances.add(body.instance);
      expect(reply.headers['set-cookie']?.some((c) => c.startsWith('lb_users='))).toBe(true);
    }
    expect(instances.size).toBeGreaterThan(1);
    const orders = await send(`${gateway.base}/api/orders`);
    expect(orders.json<{ service: string }>().service).toBe('orders');
    const stats = await send(`${gateway.base}/_stats`);
    expect(Object.keys(stats.json<object>())).toEqual(['/api/users', '/api/orders']);
    const metrics = await send(`${gateway.base}/metrics`);
    expect(metrics.text).toMatch(
      /lb_upstream_requests_total\{upstream="users-\d",status_class="2xx"\} \d+/,
    );
    expect(metrics.text).toContain('upstream="orders-slow"');
    const page = await send(`${gateway.base}/_lb/users`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const status = await send(`${gateway.base}/_lb/users/status.json`);
    expect(status.json<{ upstreams: Array<{ id: string }> }>().upstreams.map((u) => u.id)).toEqual([
      'users-1',
      'users-2',
      'users-3',
    ]);
  } finally {
    const code = await stop(gateway, 'SIGTERM');
    expect(code).toBe(0);
    expect(gateway.output()).toContain('stopped');
  }
});

test('--config gateway.json runs the same gateway against real upstreams; SIGINT exits 0', async () => {
  const a = await echoUpstream('a');
  const b = await echoUpstream('b');
  const dir = mkdtempSync(path.join(tmpdir(), 'lb-gateway-'));
  const file = path.join(dir, 'gateway.json');
  writeFileSync(
    file,
    JSON.stringify({
      port: 0,
      routes: [{ prefix: '/svc', upstreams: [a.url, b.url], healthCheck: false }],
    }),
  );
  const gateway = await startGateway(['--config', file]);
  try {
    const names = new Set<string>();
    for (let i = 0; i < 4; i++)
      names.add((await send(`${gateway.base}/svc/x`)).json<{ name: string }>().name);
    expect(names).toEqual(new Set(['a', 'b']));
  } finally {
    expect(await stop(gateway, 'SIGINT')).toBe(0);
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([a.close(), b.close()]);
  }
});

test('a bad config file is a clear error naming the problem, and exit 1', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lb-gateway-'));
  const file = path.join(dir, 'gateway.json');
  writeFileSync(
    file,
    JSON.stringify({ routes: [{ prefix: '/svc', upstreams: [{ url: 'http://x', weight: 0 }] }] }),
  );
  const child = spawn(
    process.execPath,
    [
      '-r',
      path.join(root, 'test/helpers/ts-register.js'),
      path.join(root, 'examples/gateway.ts'),
      '--config',
      file,
    ],
    { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
  expect(code).toBe(1);
  expect(output).toContain('upstreams[0].weight must be a positive integer');
});
