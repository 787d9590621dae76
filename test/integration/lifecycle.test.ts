// Lifecycle: probes and timers start at construction and stop with close(), the server's
// 'close', or the signal; close() is idempotent; a process that never calls close() exits.

import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { createBalancer, loadBalance } from '../../src';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import { sleep, startUpstream, waitFor, type TestUpstream } from '../helpers/upstreams';

let upstream: TestUpstream;
beforeAll(async () => {
  upstream = await startUpstream();
});
afterAll(() => upstream.close());

const probing = { path: '/health', interval: 20 };

async function expectProbesStopped(): Promise<void> {
  await sleep(60); // let a probe in flight land
  const before = upstream.requests;
  await sleep(200); // ten intervals
  expect(upstream.requests).toBe(before);
}

test('probes start at construction and stop on close(); close() is idempotent', async () => {
  const start = upstream.requests;
  const lb = loadBalance({ upstreams: [upstream.url], healthCheck: probing });
  await waitFor(() => upstream.requests >= start + 3, { message: 'probes running' });
  const first = lb.close();
  expect(lb.close()).toBe(first);
  await first;
  await expectProbesStopped();
  await lb.close();
});

test("probes stop when the server the middleware serves on emits 'close'", async () => {
  const lb = loadBalance({ upstreams: [upstream.url], healthCheck: probing });
  const server = await listen(http.createServer(express().use(lb)));
  expect((await send(urlOf(server, '/'))).status).toBe(200); // the first request finds the server
  await closeServer(server);
  await expectProbesStopped();
  await lb.close();
});

test('attach(server) ties probes to a server before any request', async () => {
  const balancer = createBalancer({ upstreams: [upstream.url], healthCheck: probing });
  const server = await listen(http.createServer((req, res) => balancer.handle(req, res)));
  balancer.attach(server);
  await closeServer(server);
  await expectProbesStopped();
  await balancer.close();
});

test('aborting the signal is close()', async () => {
  const controller = new AbortController();
  const lb = loadBalance({
    upstreams: [upstream.url],
    healthCheck: probing,
    signal: controller.signal,
  });
  await waitFor(() => lb.stats().upstreams[0]!.health === 'healthy', { message: 'probed' });
  controller.abort();
  await expectProbesStopped();
  await lb.close();
});

test('a process that never calls close() still exits by itself', async () => {
  const script = path.join(__dirname, '../helpers/never-closes.ts');
  const child = spawn(
    process.execPath,
    ['-r', path.join(__dirname, '../helpers/ts-register.js'), script, upstream.url],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the child did not exit by itself within 20 s'));
    }, 20_000);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  expect(code).toBe(0);
  expect(output).toContain('served 200');
});
