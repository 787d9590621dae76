// Owns the hashKey option: turns 'ip' | 'path' | 'url' | 'header:<name>' | 'cookie:<name>' | fn
// into one extractor (req) => string | undefined that never throws.

import type { IncomingMessage } from 'node:http';
import { parseCookie } from 'cookie';
import { OptionsError } from '../errors';

export type HashKeyOption =
  | 'ip'
  | 'path'
  | 'url'
  | `header:${string}`
  | `cookie:${string}`
  | ((req: IncomingMessage) => string | undefined);

export type HashKeyExtractor = (req: IncomingMessage) => string | undefined;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Express sets req.ip (honouring `trust proxy`); plain node:http has only the socket. */
function clientIp(req: IncomingMessage): string | undefined {
  const ip = (req as IncomingMessage & { ip?: unknown }).ip;
  if (typeof ip === 'string' && ip !== '') return ip;
  return req.socket?.remoteAddress ?? undefined;
}

/** Express rewrites req.url under a mount; originalUrl keeps what the client asked for. */
function requestUrl(req: IncomingMessage): string {
  const original = (req as IncomingMessage & { originalUrl?: unknown }).originalUrl;
  return typeof original === 'string' ? original : (req.url ?? '/');
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function parseHashKey(option: unknown, name: string): HashKeyExtractor {
  if (typeof option === 'function') {
    const fn = option as (req: IncomingMessage) => unknown;
    return (req) => {
      try {
        const key = fn(req);
        return typeof key === 'string' && key !== '' ? key : undefined;
      } catch {
        return undefined;
      }
    };
  }
  if (option === 'ip') return clientIp;
  if (option === 'path') return (req) => pathOf(requestUrl(req));
  if (option === 'url') return requestUrl;
  if (typeof option === 'string' && option.startsWith('header:')) {
    const header = option.slice('header:'.length).toLowerCase();
    if (TOKEN.test(header)) {
      return (req) => {
        // Own fields only: req.headers is a plain object, where 'constructor' would find Object.
        const value = Object.hasOwn(req.headers, header) ? req.headers[header] : undefined;
        const key = Array.isArray(value) ? value.join(',') : value;
        return typeof key === 'string' && key !== '' ? key : undefined;
      };
    }
  }
  if (typeof option === 'string' && option.startsWith('cookie:')) {
    const cookieName = option.slice('cookie:'.length);
    if (TOKEN.test(cookieName)) {
      return (req) => {
        const header = req.headers.cookie;
        if (!header) return undefined;
        try {
          const value = parseCookie(header)[cookieName];
          return value === undefined || value === '' ? undefined : value;
        } catch {
          return undefined;
        }
      };
    }
  }
  throw new OptionsError(
    'ERR_LB_BAD_HASH_KEY',
    name,
    `${name} must be "ip", "path", "url", "header:<name>", "cookie:<name>" or (req) => string | undefined, got ${
      typeof option === 'string' ? JSON.stringify(option) : typeof option
    }`,
  );
}
