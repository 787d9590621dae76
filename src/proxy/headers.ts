// Owns the headers the balancer rewrites on the way through: X-Forwarded-*, hop-by-hop headers
// (RFC 9110 §7.6.1), Host under changeOrigin, and the balancer's own cookie, which never reaches
// an upstream. Everything else the client sent passes byte for byte.

import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** Always hop-by-hop (RFC 9110 §7.6.1, RFC 7230 §6.1, and the de-facto Proxy-Connection). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function connectionTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(',') : value;
  const tokens: string[] = [];
  for (const token of joined.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') tokens.push(name);
  }
  return tokens;
}

/** Express's req.protocol honours `trust proxy`; plain node:http knows only its own socket. */
function requestProtocol(req: IncomingMessage): 'http' | 'https' {
  const protocol = (req as IncomingMessage & { protocol?: unknown }).protocol;
  if (protocol === 'https' || protocol === 'http') return protocol;
  return (req.socket as TLSSocket | undefined)?.encrypted ? 'https' : 'http';
}

export interface ForwardHeaderOptions {
  /** The Cookie header to send (balancer cookie removed), or undefined to drop it. */
  readonly cookie: string | undefined;
  /** Set when changeOrigin: the upstream's host[:port]. */
  readonly host: string | undefined;
  /** Content-Length of a replayed body; undefined keeps the client's framing. */
  readonly contentLength: number | undefined;
  /** Keep Connection/Upgrade (a WebSocket handshake). */
  readonly upgrade: boolean;
}

/** The request headers sent upstream: a new object, the client's headers untouched. */
export function forwardRequestHeaders(
  req: IncomingMessage,
  options: ForwardHeaderOptions,
): OutgoingHttpHeaders {
  const incoming = req.headers;
  const dropped = connectionTokens(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || (dropped.length > 0 && dropped.includes(name))) continue;
    out[name] = incoming[name];
  }
  if (options.upgrade) {
    out.connection = 'Upgrade';
    if (incoming.upgrade !== undefined) out.upgrade = incoming.upgrade;
  }
  if (options.cookie === undefined) delete out.cookie;
  else out.cookie = options.cookie;
  if (options.host !== undefined) out.host = options.host;
  if (options.contentLength !== undefined) out['content-length'] = String(options.contentLength);

  const clientAddress = req.socket?.remoteAddress;
  const priorFor = incoming['x-forwarded-for'];
  if (clientAddress !== undefined) {
    out['x-forwarded-for'] = priorFor ? `${String(priorFor)}, ${clientAddress}` : clientAddress;
  }
  out['x-forwarded-proto'] = requestProtocol(req);
  const host = incoming['x-forwarded-host'] ?? incoming.host;
  if (host !== undefined) out['x-forwarded-host'] = host;
  return out;
}

/** Removes hop-by-hop headers from an upstream response before it is copied to the client. */
export function stripResponseHopByHop(headers: IncomingHttpHeaders): void {
  for (const name of connectionTokens(headers.connection)) delete headers[name];
  delete headers['keep-alive'];
  delete headers['proxy-connection'];
  delete headers['proxy-authenticate'];
  delete headers.trailer;
  delete headers.upgrade;
  delete headers.te;
  // Node frames the body for the client itself (chunked or Content-Length): copying the
  // upstream's Transfer-Encoding would describe a framing this hop does not use.
  delete headers['transfer-encoding'];
  delete headers.connection;
}

/** Appends the balancer's Set-Cookie without clobbering the upstream's own. */
export function appendSetCookie(headers: IncomingHttpHeaders, cookie: string): void {
  const existing = headers['set-cookie'];
  headers['set-cookie'] = existing === undefined ? [cookie] : [...existing, cookie];
}
