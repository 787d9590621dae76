// An https:// upstream through the balancer: TLS to the upstream with a keep-alive https.Agent,
// the certificate verified (a certificate the process does not trust gets 502, never an
// unverified connection). The CA is given to the balancer's process with NODE_EXTRA_CA_CERTS, as
// a deployment would, so the balancer runs in a child process (test/helpers/balancer-child.ts).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { send } from '../helpers/client';

const root = path.join(__dirname, '../..');
let dir: string;
let server: https.Server;
let upstreamUrl: string;
let tlsConnections = 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'lb-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  server = https.createServer(
    {
      key: readFileSync(path.join(dir, 'key.pem')),
      cert: readFileSync(path.join(dir, 'cert.pem')),
    },
    (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          tls: true,
          url: req.url,
          connection: req.headers.connection,
        }),
      );
    },
  );
  server.on('secureConnection', () => tlsConnections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  rmSync(dir, { recursive: true, force: true });
});

async function startBalancer(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(
    process.execPath,
    [
      '-r',
      path.join(root, 'test/helpers/ts-register.js'),
      path.join(root, 'test/helpers/balancer-child.ts'),
    ],
    {
      env: { ...process.env, LB_UPSTREAMS: JSON.stringify([upstreamUrl]), ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the balancer child did not start')), 20_000);
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { event: string; port?: number };
      if (message.event === 'listening') {
        clearTimeout(timer);
        resolve(message.port!);
      }
    });
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

async function stopBalancer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise((resolve) => {
    child.once('exit', resolve);
    child.stdin!.end();
  });
}

test('an https upstream whose CA the process trusts: proxied over TLS, kept alive', async () => {
  const { child, base } = await startBalancer({ NODE_EXTRA_CA_CERTS: path.join(dir, 'cert.pem') });
  const before = tlsConnections;
  try {
    for (let i = 0; i < 3; i++) {
      const reply = await send(`${base}/secure/path?q=${i}`);
      expect(reply.status).toBe(200);
      expect(reply.json()).toEqual({
        tls: true,
        url: `/secure/path?q=${i}`,
        connection: 'keep-alive',
      });
    }
    expect(tlsConnections - before).toBe(1); // one TLS connection, kept alive for all three
  } finally {
    await stopBalancer(child);
  }
});

test('an https upstream with a certificate the process does not trust: 502, never unverified', async () => {
  const { child, base } = await startBalancer({});
  try {
    const reply = await send(`${base}/secure`);
    expect(reply.status).toBe(502);
    expect(reply.text).toBe('502 Bad Gateway\n');
  } finally {
    await stopBalancer(child);
  }
});
