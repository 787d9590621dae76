// Test upstreams that tell the test what they received: method, path, headers and the body's
// bytes (as a SHA-256 and length, plus the text for small bodies). Real servers on 127.0.0.1.

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { startUpstream, type TestUpstream, type UpstreamHandler } from './upstreams';

export interface Echo {
  name: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  bodyLength: number;
  bodySha256: string;
  body: string;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** An upstream that answers every request with a JSON Echo of it; `extra` may add headers first. */
export function echoUpstream(name: string, extra?: UpstreamHandler): Promise<TestUpstream> {
  return startUpstream((req, res, n) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const echo: Echo = {
        name,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        bodyLength: body.length,
        bodySha256: sha256(body),
        body: body.length <= 4096 ? body.toString('utf8') : '',
      };
      extra?.(req, res, n);
      if (res.writableEnded) return;
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', name);
      res.end(JSON.stringify(echo));
    });
  });
}
