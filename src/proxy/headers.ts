// Owns the headers the balancer rewrites on the way through: X-Forwarded-*, hop-by-hop headers
// (RFC 9110 §7.6.1), Host under changeOrigin, and the balancer's own cookie, which never reaches
// an upstream. Everything else the client sent passes byte for byte. X-Forwarded-Proto/-Host say
// what this hop saw; a client's claims pass only when the framework trusts its peer (Express's
// `trust proxy`, Koa's `app.proxy` through the adapter).

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

type ExpressRequest = IncomingMessage & { app?: { get?: (setting: string) => unknown } };

/**
 * Whether Express's `trust proxy` trusts this hop's peer: the test Express applies for its own
 * req.host and req.protocol (the app setting 'trust proxy fn', compiled by Express 4 and 5).
 * Without a framework nothing is trusted: a client must not choose what the upstream believes.
 */
function trustsPeer(req: IncomingMessage): boolean {
  const app = (req as ExpressRequest).app;
  if (typeof app?.get !== 'function') return false;
  try {
    const trust = app.get('trust proxy fn') as ((address: unknown, hop: number) => unknown) | null;
    return typeof trust === 'function' && trust(req.socket?.remoteAddress, 0) === true;
  } catch {
    return false;
  }
}

/**
 * Where an adapter whose framework decides trust itself puts the host that framework believes
 * (Koa: ctx.host, which honours app.proxy); sent as X-Forwarded-Host. Express needs none: its
 * 'trust proxy' setting is read directly.
 */
export const TRUSTED_HOST = Symbol.for('loadbalance-middleware.trusted-host');

/** The client's X-Forwarded-Host only from a trusted proxy; otherwise the Host this hop got. */
function forwardedHost(req: IncomingMessage): string | string[] | undefined {
  const vouched = (req as IncomingMessage & { [TRUSTED_HOST]?: unknown })[TRUSTED_HOST];
  if (typeof vouched === 'string' && vouched !== '') return vouched;
  const claimed = req.headers['x-forwarded-host'];
  if (claimed !== undefined && claimed !== '' && trustsPeer(req)) return claimed;
  return req.headers.host;
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
  if (options.contentLength !== undefined) {
    out['content-length'] = String(options.contentLength);
  } else if (incoming['transfer-encoding'] !== undefined) {
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and an intermediary removes the
    // latter. Node's parser already rejects both together; this holds under insecureHTTPParser.
    delete out['content-length'];
  }

  const clientAddress = req.socket?.remoteAddress;
  const priorFor = incoming['x-forwarded-for'];
  if (clientAddress !== undefined) {
    out['x-forwarded-for'] = priorFor ? `${String(priorFor)}, ${clientAddress}` : clientAddress;
  }
  out['x-forwarded-proto'] = requestProtocol(req);
  const host = forwardedHost(req);
  if (host === undefined) delete out['x-forwarded-host'];
  else out['x-forwarded-host'] = host;
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
