// Demo services for the example gateway, started in the same process on 127.0.0.1: each answers
// JSON naming itself, so you can watch the balancer spread, pin and route around failures.

import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  readonly name: string;
  readonly url: string;
  /** Make the service answer 503 to everything (health probes included), or recover. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export interface DemoOptions {
  /** Added to every answer, to play a slow instance. */
  readonly delayMs?: number;
}

export async function startDemoUpstream(
  service: string,
  name: string,
  options: DemoOptions = {},
): Promise<DemoUpstream> {
  let down = false;
  let served = 0;
  const server: Server = http.createServer((req, res) => {
    const answer = (): void => {
      if (down) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ service, instance: name, error: 'down for the demo' }));
        return;
      }
      if (req.url !== '/health') served++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ service, instance: name, path: req.url, served }) + '\n');
    };
    if (options.delayMs && req.url !== '/health') {
      const timer = setTimeout(answer, options.delayMs);
      res.on('close', () => clearTimeout(timer));
    } else {
      answer();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    setDown: (value) => {
      down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
