// WebSocket upgrades through the balancer: echo works, connections spread like requests, an open
// socket counts as in flight until it closes, sticky cookies pin upgrades too, and a refused
// upstream answers the client cleanly.

import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import WebSocket, { WebSocketServer } from 'ws';
import { loadBalance, type LoadBalancer } from '../../src';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import { freePortThatRefuses, waitFor } from '../helpers/upstreams';

interface WsUpstream {
  url: string;
  name: string;
  connections: number;
  close(): Promise<void>;
}

async function wsUpstream(name: string): Promise<WsUpstream> {
  const server = http.createServer((_req, res) => res.end(name));
  const wss = new WebSocketServer({ server });
  const state = { connections: 0 };
  wss.on('connection', (socket, req) => {
    state.connections++;
    socket.on('message', (data) =>
      socket.send(`${name}:${(data as Buffer).toString()}:${req.url}`),
    );
  });
  await listen(server);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    name,
    get connections() {
      return state.connections;
    },
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await closeServer(server);
    },
  };
}

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function gateway(lb: LoadBalancer): Promise<Server> {
  const server = http.createServer(express().use('/api', lb));
  server.on('upgrade', lb.upgrade);
  await listen(server);
  opened.push(
    () => lb.close(),
    () => closeServer(server),
  );
  return server;
}

function wsUrl(server: Server, path: string): string {
  return urlOf(server, path).replace(/^http/, 'ws');
}

function connect(url: string, headers?: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function roundTrip(socket: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('message', (data) => resolve((data as Buffer).toString()));
    socket.send(text);
  });
}

function closed(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    socket.once('close', () => resolve());
    socket.close();
  });
}

test('echo through the balancer, spread over two upstreams, in flight until closed', async () => {
  const a = await wsUpstream('a');
  const b = await wsUpstream('b');
  opened.push(a.close, b.close);
  const lb = loadBalance({ upstreams: [a.url, b.url], healthCheck: false });
  const server = await gateway(lb);
  const sockets = await Promise.all([1, 2, 3, 4].map(() => connect(wsUrl(server, '/chat?room=1'))));
  const replies = await Promise.all(sockets.map((s, i) => roundTrip(s, `hello${i}`)));
  expect(replies.map((r) => r.split(':')[1])).toEqual(['hello0', 'hello1', 'hello2', 'hello3']);
  expect(replies.every((r) => r.endsWith(':/chat?room=1'))).toBe(true);
  expect(new Set(replies.map((r) => r.split(':')[0]))).toEqual(new Set(['a', 'b']));
  expect(a.connections).toBe(2);
  expect(b.connections).toBe(2);
  expect(lb.stats().upstreams.map((u) => u.activeConnections)).toEqual([2, 2]);
  await Promise.all(sockets.map(closed));
  await waitFor(() => lb.stats().upstreams.every((u) => u.activeConnections === 0), {
    message: 'in-flight back to 0 after the sockets closed',
  });
});

test('an upstream that refuses answers the client 502 and leaves nothing in flight', async () => {
  const dead = await freePortThatRefuses();
  const lb = loadBalance({ upstreams: [dead], healthCheck: false });
  const server = await gateway(lb);
  const status = await new Promise<number>((resolve, reject) => {
    const socket = new WebSocket(wsUrl(server, '/chat'));
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    socket.once('open', () => reject(new Error('should not open')));
    socket.once('error', () => {});
  });
  expect(status).toBe(502);
  await waitFor(() => lb.stats().upstreams[0]!.activeConnections === 0, { message: 'in-flight 0' });
});

test('a sticky cookie pins upgrades to the same upstream as plain requests', async () => {
  const a = await wsUpstream('a');
  const b = await wsUpstream('b');
  opened.push(a.close, b.close);
  const lb = loadBalance({ upstreams: [a.url, b.url], healthCheck: false, sticky: true });
  const server = await gateway(lb);
  const first = await send(urlOf(server, '/api/'));
  const cookie = first.headers['set-cookie']!.find((c) => c.startsWith('lb='))!.split(';')[0]!;
  for (let i = 0; i < 4; i++) {
    const socket = await connect(wsUrl(server, '/x'), { cookie });
    expect((await roundTrip(socket, 'hi')).split(':')[0]).toBe(first.text);
    await closed(socket);
  }
});

test('a client that drops mid-tunnel closes the upstream side and in-flight returns to 0', async () => {
  const a = await wsUpstream('a');
  opened.push(a.close);
  const lb = loadBalance({ upstreams: [a.url], healthCheck: false });
  const server = await gateway(lb);
  const socket = await connect(wsUrl(server, '/x'));
  await roundTrip(socket, 'hi');
  socket.terminate();
  await waitFor(() => lb.stats().upstreams[0]!.activeConnections === 0, { message: 'in-flight 0' });
});
