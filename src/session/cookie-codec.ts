// Owns the sticky cookie's value: encoding, optional HMAC signing with a key list, expiry, and
// strict decoding. Pure apart from crypto: time comes in as `now`, nothing is read from a request.
// It must never put an upstream's id or address in a value, and decode() must never throw.
//
// Value format (every part base64url or base36, so no cookie quoting is ever needed):
//
//   value   = head [ "." expires ] [ "." signature ]
//   head    = 16 chars: the upstream token (stateless mode), or
//             24 chars: the random session id (store mode)
//   expires = expiry time, ms since the epoch in base36; present exactly when `ttl` is set
//   signature = 24 chars: HMAC-SHA256 over kind + "\0" + head [ "." expires ], truncated to
//             18 bytes; present exactly when secrets are set
//
// The upstream token is a truncated SHA-256 of the upstream id (ids default to the upstream URL):
// unkeyed without secrets, so independent balancer instances agree without shared state, and
// HMAC-keyed with secrets, so nobody without the secret can confirm a guessed address.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a value's head is: an upstream token (stateless mode) or a session id (store mode). */
export type CookieKind = 'upstream' | 'session';

/** Length of an upstream token: 12 bytes of hash, base64url without padding bits. */
export const TOKEN_LENGTH = 16;
/** Length of a session id: 18 random bytes (144 bits), base64url without padding bits. */
export const SESSION_ID_LENGTH = 24;
/** Length of a signature: 18 bytes of HMAC-SHA256. */
export const SIGNATURE_LENGTH = 24;
/** Values longer than this are rejected before any parsing: bounds the work per request. */
export const MAX_VALUE_LENGTH = 512;

const TOKEN_BYTES = 12;
const SIGNATURE_BYTES = 18;
const SESSION_ID_BYTES = 18;
// Domain separation: the token and signature keys derived from one secret never coincide, and an
// unkeyed token is not a plain SHA-256 of a URL that a generic lookup table could reverse.
const TOKEN_CONTEXT = 'loadbalance-middleware sticky token v1';
const SIGNATURE_CONTEXT = 'loadbalance-middleware sticky signature v1';

const HEAD_LENGTH: Readonly<Record<CookieKind, number>> = {
  upstream: TOKEN_LENGTH,
  session: SESSION_ID_LENGTH,
};
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// ms since the epoch fit in 9 base36 digits until the year 5188; 11 leaves room, nothing more.
const EXPIRES = /^[0-9a-z]{1,11}$/;
const MAX_EXPIRES = Number.MAX_SAFE_INTEGER; // "2gosa7pa2gv": 11 base36 digits

export interface DecodedValue {
  /** The upstream token or session id. */
  readonly head: string;
  /** Expiry (ms since the epoch) carried by the value, if any; already checked against `now`. */
  readonly expires: number | undefined;
  /** Index of the secret that verified the value (0 = current); 0 when unsigned. */
  readonly keyIndex: number;
}

interface KeyPair {
  readonly token: Buffer;
  readonly signature: Buffer;
}

export class CookieCodec {
  /** True when values are signed (secrets were given). */
  readonly signed: boolean;
  /** How many token/key slots exist: one per secret, or one unkeyed slot. */
  readonly keyCount: number;
  private readonly keys: readonly KeyPair[];

  /** `secrets`: sign with the first, accept any (rotation). Empty: unsigned, unkeyed tokens. */
  constructor(secrets: readonly string[]) {
    this.keys = secrets.map((secret) => ({
      token: createHmac('sha256', secret).update(TOKEN_CONTEXT).digest(),
      signature: createHmac('sha256', secret).update(SIGNATURE_CONTEXT).digest(),
    }));
    this.signed = this.keys.length > 0;
    this.keyCount = Math.max(1, this.keys.length);
  }

  /** The opaque token for an upstream id under key slot `keyIndex` (0 = the one to issue). */
  upstreamToken(upstreamId: string, keyIndex = 0): string {
    const key = this.keys[keyIndex];
    const digest = key
      ? createHmac('sha256', key.token).update(upstreamId).digest()
      : createHash('sha256').update(TOKEN_CONTEXT).update('\0').update(upstreamId).digest();
    return digest.subarray(0, TOKEN_BYTES).toString('base64url');
  }

  /** A cookie value for `head`, expiring at `expires` (ms since the epoch) when given. */
  encode(kind: CookieKind, head: string, expires: number | undefined): string {
    // Clamped so an absurd ttl still gives at most 11 base36 digits, which decode() accepts.
    const at = expires === undefined ? undefined : Math.min(Math.floor(expires), MAX_EXPIRES);
    const payload = at === undefined ? head : `${head}.${at.toString(36)}`;
    const key = this.keys[0];
    return key ? `${payload}.${sign(key, kind, payload)}` : payload;
  }

  /**
   * The parts of a valid value, or undefined for anything else: wrong type, empty, too long,
   * malformed, expired at `now`, unsigned or badly signed when secrets are set. Never throws.
   */
  decode(kind: CookieKind, value: unknown, now: number): DecodedValue | undefined {
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_VALUE_LENGTH) {
      return undefined;
    }
    let payload = value;
    let keyIndex = 0;
    if (this.signed) {
      const dot = value.lastIndexOf('.');
      if (dot < 0) return undefined;
      const signature = value.slice(dot + 1);
      payload = value.slice(0, dot);
      if (signature.length !== SIGNATURE_LENGTH || !BASE64URL.test(signature)) return undefined;
      keyIndex = this.verify(kind, payload, signature);
      if (keyIndex < 0) return undefined;
    }
    const dot = payload.indexOf('.');
    const head = dot < 0 ? payload : payload.slice(0, dot);
    if (head.length !== HEAD_LENGTH[kind] || !BASE64URL.test(head)) return undefined;
    let expires: number | undefined;
    if (dot >= 0) {
      const text = payload.slice(dot + 1);
      if (!EXPIRES.test(text)) return undefined;
      expires = parseInt(text, 36);
      if (!(expires > now)) return undefined;
    }
    return { head, expires, keyIndex };
  }

  /** Index of the key whose signature matches, or -1. Compares in constant time per key. */
  private verify(kind: CookieKind, payload: string, signature: string): number {
    // signature is 24 base64url (ASCII) characters here, so both buffers are 24 bytes long.
    const given = Buffer.from(signature, 'latin1');
    for (let i = 0; i < this.keys.length; i++) {
      const expected = Buffer.from(sign(this.keys[i]!, kind, payload), 'latin1');
      if (timingSafeEqual(expected, given)) return i;
    }
    return -1;
  }
}

function sign(key: KeyPair, kind: CookieKind, payload: string): string {
  return createHmac('sha256', key.signature)
    .update(kind)
    .update('\0')
    .update(payload)
    .digest()
    .subarray(0, SIGNATURE_BYTES)
    .toString('base64url');
}

/** A new random session id: 18 bytes from the CSPRNG, base64url (24 characters). */
export function newSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('base64url');
}
