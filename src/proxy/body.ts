// Owns the question "how can this request's body be sent upstream (again)?": an unread stream,
// nothing at all, or bytes in memory when a body parser (express.json(), urlencoded, text, raw,
// koa-bodyparser) already consumed the stream — byte-exact when the raw bytes were kept,
// otherwise re-serialised to an equal value with a correct Content-Length.

import type { IncomingMessage } from 'node:http';
import type { BodySource } from './forward';

const NO_BODY: BodySource = Object.freeze({ kind: 'none' });
const STREAM_BODY: BodySource = Object.freeze({ kind: 'stream' });

type ParsedRequest = IncomingMessage & {
  body?: unknown;
  rawBody?: unknown;
  _body?: unknown;
};

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function bodyWasConsumed(req: ParsedRequest): boolean {
  return req._body === true || req.readableEnded;
}

function charsetOf(contentType: string): BufferEncoding {
  const match = /charset="?([\w-]+)"?/i.exec(contentType);
  const charset = match?.[1]?.toLowerCase();
  if (charset === 'latin1' || charset === 'iso-8859-1') return 'latin1';
  if (charset === 'utf-16le' || charset === 'ucs-2') return 'utf16le';
  return 'utf8';
}

/** application/x-www-form-urlencoded with qs-style brackets, as express's extended parser reads it. */
function encodeForm(value: unknown, prefix: string, parts: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) =>
      encodeForm(item, `${prefix}[${typeof item === 'object' && item !== null ? i : ''}]`, parts),
    );
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value))
      encodeForm(item, prefix ? `${prefix}[${key}]` : key, parts);
  } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    parts.push(`${encodeURIComponent(prefix)}=${encodeURIComponent(String(value))}`);
  }
}

function serialise(body: unknown, contentType: string): Buffer | undefined {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, charsetOf(contentType));
  if (/[/+]json\b/i.test(contentType)) return Buffer.from(JSON.stringify(body) ?? '', 'utf8');
  if (/application\/x-www-form-urlencoded/i.test(contentType)) {
    const parts: string[] = [];
    encodeForm(body, '', parts);
    return Buffer.from(parts.join('&'), 'utf8');
  }
  return undefined;
}

/**
 * The body source of a request, or undefined when a body was consumed upstream of the balancer
 * and cannot be reconstructed (an unknown parser): the caller answers 502 rather than send a lie.
 */
export function bodySourceOf(req: IncomingMessage, parsedBody?: unknown): BodySource | undefined {
  if (!hasBody(req)) return NO_BODY;
  const parsed = req as ParsedRequest;
  if (!bodyWasConsumed(parsed) && parsedBody === undefined) return STREAM_BODY;
  if (Buffer.isBuffer(parsed.rawBody)) return { kind: 'buffer', bytes: parsed.rawBody };
  const body = parsedBody ?? parsed.body;
  const bytes = serialise(body, String(req.headers['content-type'] ?? ''));
  return bytes === undefined ? undefined : { kind: 'buffer', bytes };
}
