// Child process: the upstreams every benchmark proxies to. Tiny node:http servers on 127.0.0.1,
// keep-alive on, answering any request with a 100-byte body and an `x-upstream: <index>` header,
// after an optional per-upstream delay. The orchestrator can change a delay, kill an upstream
// (stop listening and destroy its sockets, as a crashed process would) and revive it on the same
// port.
//
// Run by the orchestrator only: node upstreams.js '{"delays":[0,0,0]}'.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { serveParent, specOf } from './proc';

export interface UpstreamsSpec {
  /** Per upstream: milliseconds before answering (0: at once). */
  readonly delays: readonly number[];
}

export interface UpstreamsReady {
  readonly ports: number[];
}

const BODY_SIZE = 100;

function body(index: number): Buffer {
  return Buffer.from(`upstream ${index} `.padEnd(BODY_SIZE - 1, '.') + '\n');
}

class Upstream {
  readonly server: http.Server;
  readonly sockets = new Set<Socket>();
  delay: number;
  port = 0;
  served = 0;
  private readonly bytes: Buffer;
  private readonly headers: http.OutgoingHttpHeaders;

  constructor(
    readonly index: number,
    delay: number,
  ) {
    this.delay = delay;
    this.bytes = body(index);
    this.headers = {
      'content-type': 'text/plain',
      'content-length': this.bytes.length,
      'x-upstream': String(index),
    };
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (_error, socket) => socket.destroy());
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.served++;
    const answer = (): void => {
      if (res.destroyed) return;
      res.writeHead(200, this.headers);
      res.end(this.bytes);
    };
    // Drain any request body; answer after the delay.
    req.resume();
    if (this.delay > 0) setTimeout(answer, this.delay);
    else answer();
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  /** Dies like a crashed process: no more connects, every open socket reset. */
  kill(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
  }

  revive(): Promise<number> {
    return this.listen(this.port);
  }
}

async function main(): Promise<void> {
  const spec = specOf<UpstreamsSpec>();
  const upstreams = spec.delays.map((delay, i) => new Upstream(i, delay));
  const ports: number[] = [];
  for (const u of upstreams) ports.push(await u.listen(0));
  const at = (index: number): Upstream => {
    const u = upstreams[index];
    if (!u) throw new Error(`no upstream ${index}`);
    return u;
  };
  serveParent(
    { ports } satisfies UpstreamsReady,
    {
      setDelay: ({ index, ms }: { index: number; ms: number }) => {
        at(index).delay = ms;
      },
      kill: ({ index }: { index: number }) => at(index).kill(),
      revive: ({ index }: { index: number }) => at(index).revive(),
      served: () => upstreams.map((u) => u.served),
    },
    () => {
      for (const u of upstreams) u.kill();
    },
  );
}

void main();
