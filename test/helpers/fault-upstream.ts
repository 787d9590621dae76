// A scriptable upstream that speaks raw TCP (net.createServer), so a test can send what no
// well-behaved HTTP server would: invalid status lines, oversized or endless headers, broken
// chunks, a reset or a half-close at any byte. It also records exactly what it received — every
// request head as sent on the wire, and its body as framed by Content-Length or chunked — so a
// test can assert what the balancer forwarded, not what a lenient parser made of it.
// It owns only test sockets on 127.0.0.1; close() destroys every one of them.

import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** One request as the upstream received it, raw. */
export interface ReceivedRequest {
  /** Which connection (1-based, in accept order) carried it. */
  readonly connection: number;
  /** The request line and header lines as sent (no final blank line), CRLFs included. */
  readonly head: string;
  readonly method: string;
  readonly target: string;
  /** Header fields in wire order, names as sent (not lower-cased), values trimmed. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body bytes read so far, de-chunked when the request was chunked. */
  body: Buffer;
  /** The body is complete as its framing says (Content-Length reached, or the last chunk seen). */
  complete: boolean;
}

/** A handle on one accepted connection, for scripts. */
export interface FaultConnection {
  readonly id: number;
  readonly socket: net.Socket;
  /** Writes raw bytes; resolves once they are handed to the kernel. */
  write(data: string | Buffer): Promise<void>;
  /** Sends a TCP RST and forgets the socket (the peer sees ECONNRESET). */
  reset(): void;
  /** Ends the write side (FIN) but keeps reading: a half-open socket. */
  endWrite(): void;
  readonly closed: boolean;
}

/**
 * Called once per request, when its body is complete. May answer (or not) however it likes;
 * a rejection is recorded in `scriptErrors` and the connection destroyed, never thrown.
 */
export type FaultScript = (
  request: ReceivedRequest,
  connection: FaultConnection,
  requestNumber: number,
) => void | Promise<void>;

export interface FaultUpstream {
  readonly url: string;
  readonly port: number;
  /** Every request seen, in order, complete or not. */
  readonly requests: readonly ReceivedRequest[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open now. */
  readonly openConnections: number;
  /** Every byte received, per connection in accept order. */
  readonly received: readonly Buffer[];
  /** Errors thrown by scripts (a test asserts this stays empty). */
  readonly scriptErrors: readonly unknown[];
  /** The script for requests from now on. */
  script: FaultScript;
  close(): Promise<void>;
}

/** A complete response with a Content-Length; the connection stays open for keep-alive. */
export function rawResponse(
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): string {
  const lines = [`HTTP/1.1 ${status} Status`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Answers every request with `rawResponse(status, body)`. */
export function answer(status: number, body: string): FaultScript {
  return (_request, connection) => connection.write(rawResponse(status, body));
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** A request head larger than this is not parsed further (the test upstream's own bound). */
const MAX_HEAD = 1024 * 1024;

/** Incremental request reader for one connection: heads, then bodies by their framing. */
class RequestReader {
  private buffer = Buffer.alloc(0);
  private current: ReceivedRequest | undefined;
  private remaining = 0; // Content-Length bytes still to read
  private chunked = false;

  constructor(
    private readonly connection: number,
    private readonly onHead: (request: ReceivedRequest) => void,
    private readonly onComplete: (request: ReceivedRequest) => void,
  ) {}

  push(data: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, data]);
    for (;;) {
      if (!this.current) {
        const end = this.buffer.indexOf(HEAD_END);
        if (end < 0) {
          if (this.buffer.length > MAX_HEAD) this.buffer = Buffer.alloc(0);
          return;
        }
        const head = this.buffer.subarray(0, end).toString('latin1');
        this.buffer = this.buffer.subarray(end + HEAD_END.length);
        this.start(head);
        continue;
      }
      if (!this.readBody()) return;
    }
  }

  private start(head: string): void {
    const [requestLine = '', ...lines] = head.split('\r\n');
    const [method = '', target = ''] = requestLine.split(' ');
    const headers = lines.map((line): [string, string] => {
      const colon = line.indexOf(':');
      return colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
    const request: ReceivedRequest = {
      connection: this.connection,
      head,
      method,
      target,
      headers,
      body: Buffer.alloc(0),
      complete: false,
    };
    const te = headers.find(([name]) => name.toLowerCase() === 'transfer-encoding');
    const cl = headers.find(([name]) => name.toLowerCase() === 'content-length');
    this.chunked = te !== undefined && /chunked\s*$/i.test(te[1]);
    this.remaining = !this.chunked && cl ? Number(cl[1]) || 0 : 0;
    this.current = request;
    this.onHead(request);
  }

  /** Reads what it can of the current body; true when the request completed. */
  private readBody(): boolean {
    const request = this.current!;
    if (!this.chunked) {
      const take = Math.min(this.remaining, this.buffer.length);
      request.body = Buffer.concat([request.body, this.buffer.subarray(0, take)]);
      this.buffer = this.buffer.subarray(take);
      this.remaining -= take;
      if (this.remaining > 0) return false;
      return this.finish();
    }
    for (;;) {
      const lineEnd = this.buffer.indexOf('\r\n');
      if (lineEnd < 0) return false;
      const size = parseInt(this.buffer.subarray(0, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) return false; // not valid chunking: stays incomplete
      if (size === 0) {
        // Last chunk; no trailers expected from the balancer: "0\r\n\r\n".
        const end = this.buffer.indexOf(HEAD_END, lineEnd - 2 < 0 ? 0 : lineEnd - 2);
        if (end < 0) return false;
        this.buffer = this.buffer.subarray(end + HEAD_END.length);
        return this.finish();
      }
      if (this.buffer.length < lineEnd + 2 + size + 2) return false;
      const data = this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size);
      request.body = Buffer.concat([request.body, data]);
      this.buffer = this.buffer.subarray(lineEnd + 2 + size + 2);
    }
  }

  private finish(): boolean {
    const request = this.current!;
    request.complete = true;
    this.current = undefined;
    this.onComplete(request);
    return true;
  }
}

/** Starts a raw TCP upstream on 127.0.0.1:0 running `script` for each request. */
export async function faultUpstream(initial: FaultScript): Promise<FaultUpstream> {
  const requests: ReceivedRequest[] = [];
  const received: Buffer[][] = [];
  const scriptErrors: unknown[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let script = initial;

  // allowHalfOpen: a script may end its write side and still see what the balancer does next.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const id = ++accepted;
    const chunks: Buffer[] = [];
    received.push(chunks);
    sockets.add(socket);
    let closed = false;
    socket.on('error', () => {}); // resets are the point here, never a test failure
    socket.on('end', () => {
      // The balancer ended its side: finish ours, unless the socket is already gone.
      if (!socket.destroyed) socket.end();
    });
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
    });
    const connection: FaultConnection = {
      id,
      socket,
      write: (data) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed || !socket.writable) return resolve();
          socket.write(data, () => resolve());
        }),
      reset: () => {
        if (!socket.destroyed) socket.resetAndDestroy();
      },
      endWrite: () => {
        if (!socket.destroyed) socket.end();
      },
      get closed() {
        return closed;
      },
    };
    const reader = new RequestReader(
      id,
      (request) => requests.push(request),
      (request) => {
        const n = requests.indexOf(request) + 1;
        Promise.resolve()
          .then(() => script(request, connection, n))
          .catch((error: unknown) => {
            scriptErrors.push(error);
            socket.destroy();
          });
      },
    );
    socket.on('data', (data: Buffer) => {
      chunks.push(data);
      reader.push(data);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get connections() {
      return accepted;
    },
    get openConnections() {
      return sockets.size;
    },
    get received() {
      return received.map((chunks) => Buffer.concat(chunks));
    },
    scriptErrors,
    get script() {
      return script;
    },
    set script(next: FaultScript) {
      script = next;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
