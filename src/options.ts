// Owns the public Options type and normalizeOptions(): every option is checked once, at
// construction, and turned into a frozen, fully defaulted Config. Errors teach: they name the
// option, what is accepted and what was received, and suggest a near key for a typo.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { OptionsError } from './errors';
import type { SessionStore } from './session/session-store';
import type { Strategy } from './strategies/strategy';
import type { HashKeyOption } from './strategies/hash-key';
import { parseHashKey, type HashKeyExtractor } from './strategies/hash-key';
import { isAlgorithmName, algorithmNames, type AlgorithmName } from './strategies/registry';
import type { DiscoverySource } from './discovery/discovery-source';
import { isDiscoverySource } from './discovery/discovery-source';

export type { HashKeyOption };

export interface UpstreamHealthCheckOptions {
  type?: 'http' | 'tcp';
  path?: string;
  method?: string;
  interval?: number;
  timeout?: number;
  failureThreshold?: number;
  successThreshold?: number;
  /** A status, a list of statuses, or `(status) => boolean`. Default: 2xx and 3xx pass. */
  expectStatus?: number | readonly number[] | ((status: number) => boolean);
  headers?: Readonly<Record<string, string>>;
}

export interface UpstreamOptions {
  url: string;
  id?: string;
  weight?: number;
  healthCheck?: UpstreamHealthCheckOptions | false;
}

export type UpstreamInput = string | UpstreamOptions;

export interface StickyOptions {
  cookie?: string;
  ttl?: number;
  secret?: string | readonly string[];
  path?: string;
  domain?: string;
  /** `'auto'` (default): Secure when the request arrived over TLS (Express `req.secure`). */
  secure?: boolean | 'auto';
  sameSite?: 'lax' | 'strict' | 'none';
  httpOnly?: boolean;
  store?: SessionStore;
}

export interface PassiveHealthOptions {
  failures?: number;
  ejectFor?: number;
  maxEjectedPercent?: number;
  /** Count 5xx answers as failures too (default false: only connect failures and timeouts). */
  on5xx?: boolean;
}

export interface MetricsOptions {
  /** A prom-client Registry; default: a new one, read it from `lb.metrics.registry`. */
  registry?: unknown;
  prefix?: string;
}

export type ErrorHandler = (err: Error, req: IncomingMessage, res: ServerResponse) => void;

export interface Options {
  upstreams: readonly UpstreamInput[] | DiscoverySource;
  algorithm?: AlgorithmName | Strategy;
  hashKey?: HashKeyOption;
  sticky?: boolean | StickyOptions;
  healthCheck?: boolean | UpstreamHealthCheckOptions;
  passiveHealth?: boolean | PassiveHealthOptions;
  retries?: number;
  timeout?: number;
  connectTimeout?: number;
  changeOrigin?: boolean;
  pathRewrite?: (path: string, req: IncomingMessage) => string;
  onError?: ErrorHandler;
  signal?: AbortSignal;
  metrics?: boolean | MetricsOptions;
  /** Sockets kept per upstream by the keep-alive agent (default 256). */
  maxSockets?: number;
}

export interface HealthCheckConfig {
  readonly type: 'http' | 'tcp';
  readonly path: string;
  readonly method: string;
  readonly interval: number;
  readonly timeout: number;
  readonly failureThreshold: number;
  readonly successThreshold: number;
  readonly expectStatus: (status: number) => boolean;
  readonly headers: Readonly<Record<string, string>>;
}

export interface UpstreamConfig {
  readonly id: string;
  readonly url: URL;
  readonly weight: number;
  readonly healthCheck: HealthCheckConfig | false;
}

export interface StickyConfig {
  readonly cookie: string;
  readonly ttl: number | undefined;
  readonly secrets: readonly string[];
  readonly path: string;
  readonly domain: string | undefined;
  readonly secure: boolean | 'auto';
  readonly sameSite: 'lax' | 'strict' | 'none';
  readonly httpOnly: boolean;
  readonly store: SessionStore | undefined;
}

export interface PassiveHealthConfig {
  readonly failures: number;
  readonly ejectFor: number;
  readonly maxEjectedPercent: number;
  readonly on5xx: boolean;
}

export interface Config {
  /** Static upstreams; empty when `discovery` is set. */
  readonly upstreams: readonly UpstreamConfig[];
  readonly discovery: DiscoverySource | undefined;
  readonly algorithm: AlgorithmName | Strategy;
  readonly hashKey: HashKeyExtractor | undefined;
  readonly sticky: StickyConfig | false;
  readonly healthCheck: HealthCheckConfig | false;
  readonly passiveHealth: PassiveHealthConfig | false;
  readonly retries: number;
  readonly timeout: number;
  readonly connectTimeout: number;
  readonly changeOrigin: boolean;
  readonly pathRewrite: ((path: string, req: IncomingMessage) => string) | undefined;
  readonly onError: ErrorHandler | undefined;
  readonly signal: AbortSignal | undefined;
  readonly metrics: { readonly registry: unknown; readonly prefix: string } | false;
  readonly maxSockets: number;
}

const OPTION_KEYS = [
  'upstreams',
  'algorithm',
  'hashKey',
  'sticky',
  'healthCheck',
  'passiveHealth',
  'retries',
  'timeout',
  'connectTimeout',
  'changeOrigin',
  'pathRewrite',
  'onError',
  'signal',
  'metrics',
  'maxSockets',
] as const;
const UPSTREAM_KEYS = ['url', 'id', 'weight', 'healthCheck'] as const;
const STICKY_KEYS = [
  'cookie',
  'ttl',
  'secret',
  'path',
  'domain',
  'secure',
  'sameSite',
  'httpOnly',
  'store',
] as const;
const HEALTH_KEYS = [
  'type',
  'path',
  'method',
  'interval',
  'timeout',
  'failureThreshold',
  'successThreshold',
  'expectStatus',
  'headers',
] as const;
const PASSIVE_KEYS = ['failures', 'ejectFor', 'maxEjectedPercent', 'on5xx'] as const;
const METRICS_KEYS = ['registry', 'prefix'] as const;

/** RFC 6265 cookie-name: an RFC 7230 token. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HTTP_METHOD = /^[A-Z]+$/;

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  return typeof value;
}

export function fail(code: string, option: string, expected: string, got: unknown): never {
  throw new OptionsError(code, option, `${option} must be ${expected}, got ${describe(got)}`);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(
        row[j]! + 1,
        row[j - 1]! + 1,
        previous + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1),
      );
      previous = current;
    }
  }
  return row[b.length]!;
}

export function rejectUnknownKeys(value: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = known
      .map((k) => ({ k, d: editDistance(key, k) }))
      .filter(({ d }) => d <= 3)
      .sort((x, y) => x.d - y.d)[0];
    const hint = near ? ` (did you mean ${where ? `${where}.` : ''}${near.k}?)` : '';
    throw new OptionsError(
      'ERR_LB_UNKNOWN_OPTION',
      where ? `${where}.${key}` : key,
      `unknown option ${where ? `${where}.` : ''}${key}${hint}; accepted: ${known.join(', ')}`,
    );
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function int(value: unknown, option: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(
      'ERR_LB_BAD_NUMBER',
      option,
      min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`,
      value,
    );
  }
  return value;
}

/** A duration in ms: a finite number > 0 (or ≥ 0 when zero is allowed). */
export function duration(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail('ERR_LB_BAD_DURATION', option, 'a positive number of milliseconds', value);
  }
  return value;
}

export function bool(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail('ERR_LB_BAD_BOOLEAN', option, 'true or false', value);
  return value;
}

function optionalFunction<F>(value: unknown, option: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail('ERR_LB_BAD_FUNCTION', option, 'a function', value);
  return value as F;
}

/** The id a URL string gets by default: lower-case scheme and host, no trailing slash. */
export function normalizeUrl(raw: unknown, option: string): URL {
  if (typeof raw !== 'string' || raw.trim() === '') {
    fail('ERR_LB_BAD_URL', option, 'an http:// or https:// URL string', raw);
  }
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    fail('ERR_LB_BAD_URL', option, 'an http:// or https:// URL', raw);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail('ERR_LB_BAD_URL', option, 'an http:// or https:// URL', raw);
  }
  if (url.search || url.hash || url.username || url.password) {
    fail(
      'ERR_LB_BAD_URL',
      option,
      'a URL without query, fragment or credentials (scheme, host, port and base path only)',
      raw,
    );
  }
  return url;
}

export function defaultUpstreamId(url: URL): string {
  return url.href.replace(/\/+$/, '');
}

function parseExpectStatus(value: unknown, option: string): (status: number) => boolean {
  if (value === undefined) return (status) => status >= 200 && status < 400;
  const isStatus = (s: unknown): s is number =>
    typeof s === 'number' && Number.isInteger(s) && s >= 100 && s <= 599;
  if (isStatus(value)) return (status) => status === value;
  if (Array.isArray(value) && value.length > 0 && value.every(isStatus)) {
    const set = new Set<number>(value);
    return (status) => set.has(status);
  }
  if (typeof value === 'function') {
    const fn = value as (status: number) => unknown;
    return (status) => fn(status) === true;
  }
  fail(
    'ERR_LB_BAD_HEALTH_CHECK',
    option,
    'an HTTP status (100–599), a non-empty list of statuses, or (status) => boolean',
    value,
  );
}

function parseHealthCheck(
  value: unknown,
  option: string,
  base: HealthCheckConfig,
): HealthCheckConfig | false {
  if (value === false) return false;
  if (value === undefined || value === true) return base;
  if (!isPlainObject(value))
    fail('ERR_LB_BAD_HEALTH_CHECK', option, 'false, true or an object', value);
  rejectUnknownKeys(value, HEALTH_KEYS, option);
  const path = value.path;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
    fail('ERR_LB_BAD_HEALTH_CHECK', `${option}.path`, 'a path starting with "/"', path);
  }
  const type = value.type ?? (path !== undefined ? 'http' : base.type);
  if (type !== 'http' && type !== 'tcp') {
    fail('ERR_LB_BAD_HEALTH_CHECK', `${option}.type`, '"http" or "tcp"', value.type);
  }
  const method = value.method ?? base.method;
  if (typeof method !== 'string' || !HTTP_METHOD.test(method)) {
    fail('ERR_LB_BAD_HEALTH_CHECK', `${option}.method`, 'an upper-case HTTP method', method);
  }
  const headers = value.headers ?? base.headers;
  if (!isPlainObject(headers) || !Object.values(headers).every((h) => typeof h === 'string')) {
    fail('ERR_LB_BAD_HEALTH_CHECK', `${option}.headers`, 'an object of string values', headers);
  }
  return Object.freeze({
    type,
    path: path ?? base.path,
    method,
    interval: duration(value.interval, `${option}.interval`, base.interval),
    timeout: duration(value.timeout, `${option}.timeout`, base.timeout),
    failureThreshold: int(
      value.failureThreshold,
      `${option}.failureThreshold`,
      1,
      base.failureThreshold,
    ),
    successThreshold: int(
      value.successThreshold,
      `${option}.successThreshold`,
      1,
      base.successThreshold,
    ),
    expectStatus:
      value.expectStatus === undefined
        ? base.expectStatus
        : parseExpectStatus(value.expectStatus, `${option}.expectStatus`),
    headers: Object.freeze({ ...(headers as Record<string, string>) }),
  });
}

export const DEFAULT_HEALTH_CHECK: HealthCheckConfig = Object.freeze({
  type: 'tcp',
  path: '/',
  method: 'GET',
  interval: 5000,
  timeout: 2000,
  failureThreshold: 3,
  successThreshold: 2,
  expectStatus: parseExpectStatus(undefined, 'healthCheck.expectStatus'),
  headers: Object.freeze({}),
});

/** Normalises one upstream entry; shared by static lists, addUpstream() and discovery. */
export function normalizeUpstream(
  input: unknown,
  option: string,
  healthCheck: HealthCheckConfig | false,
): UpstreamConfig {
  if (typeof input === 'string') {
    const url = normalizeUrl(input, option);
    return Object.freeze({ id: defaultUpstreamId(url), url, weight: 1, healthCheck });
  }
  if (!isPlainObject(input)) {
    fail(
      'ERR_LB_BAD_UPSTREAM',
      option,
      'a URL string or { url, id?, weight?, healthCheck? }',
      input,
    );
  }
  rejectUnknownKeys(input, UPSTREAM_KEYS, option);
  const url = normalizeUrl(input.url, `${option}.url`);
  const id = input.id ?? defaultUpstreamId(url);
  if (typeof id !== 'string' || id === '' || id.length > 256) {
    fail('ERR_LB_BAD_UPSTREAM', `${option}.id`, 'a non-empty string of at most 256 characters', id);
  }
  const weight = input.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 1_000_000) {
    fail('ERR_LB_BAD_WEIGHT', `${option}.weight`, 'a positive integer (1 to 1000000)', weight);
  }
  let check: HealthCheckConfig | false = healthCheck;
  if (input.healthCheck !== undefined) {
    check =
      healthCheck === false && input.healthCheck !== false
        ? parseHealthCheck(input.healthCheck, `${option}.healthCheck`, DEFAULT_HEALTH_CHECK)
        : parseHealthCheck(
            input.healthCheck,
            `${option}.healthCheck`,
            healthCheck || DEFAULT_HEALTH_CHECK,
          );
  }
  return Object.freeze({ id, url, weight, healthCheck: check });
}

function parseSticky(value: unknown): StickyConfig | false {
  if (value === undefined || value === false) return false;
  const input: Record<string, unknown> = value === true ? {} : (value as Record<string, unknown>);
  if (value !== true && !isPlainObject(value)) {
    fail('ERR_LB_BAD_STICKY', 'sticky', 'true, false or an object', value);
  }
  rejectUnknownKeys(input, STICKY_KEYS, 'sticky');
  const cookie = input.cookie ?? 'lb';
  if (typeof cookie !== 'string' || !COOKIE_NAME.test(cookie)) {
    fail('ERR_LB_BAD_STICKY', 'sticky.cookie', 'a cookie name (an RFC 6265 token)', cookie);
  }
  const ttl = input.ttl === undefined ? undefined : duration(input.ttl, 'sticky.ttl', 0);
  const rawSecret = input.secret;
  let secrets: string[] = [];
  if (rawSecret !== undefined) {
    secrets =
      typeof rawSecret === 'string'
        ? [rawSecret]
        : Array.isArray(rawSecret)
          ? ([...(rawSecret as unknown[])] as string[])
          : [];
    if (secrets.length === 0 || !secrets.every((s) => typeof s === 'string' && s.length > 0)) {
      fail(
        'ERR_LB_BAD_STICKY',
        'sticky.secret',
        'a non-empty string or a non-empty list of them',
        rawSecret,
      );
    }
  }
  const path = input.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/') || /[;\s]/.test(path)) {
    fail('ERR_LB_BAD_STICKY', 'sticky.path', 'a cookie path starting with "/"', path);
  }
  const domain = input.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !/^[A-Za-z0-9.-]+$/.test(domain))) {
    fail('ERR_LB_BAD_STICKY', 'sticky.domain', 'a domain name', domain);
  }
  const secure = input.secure ?? 'auto';
  if (secure !== true && secure !== false && secure !== 'auto') {
    fail('ERR_LB_BAD_STICKY', 'sticky.secure', 'true, false or "auto"', secure);
  }
  const sameSite = input.sameSite ?? 'lax';
  if (sameSite !== 'lax' && sameSite !== 'strict' && sameSite !== 'none') {
    fail('ERR_LB_BAD_STICKY', 'sticky.sameSite', '"lax", "strict" or "none"', sameSite);
  }
  const store = input.store;
  if (
    store !== undefined &&
    (typeof store !== 'object' ||
      store === null ||
      ['get', 'set', 'delete'].some(
        (m) => typeof (store as Record<string, unknown>)[m] !== 'function',
      ))
  ) {
    fail(
      'ERR_LB_BAD_STICKY',
      'sticky.store',
      'a SessionStore with get, set and delete methods',
      store,
    );
  }
  return Object.freeze({
    cookie,
    ttl,
    secrets: Object.freeze(secrets),
    path,
    domain,
    secure,
    sameSite,
    httpOnly: bool(input.httpOnly, 'sticky.httpOnly', true),
    store: store as SessionStore | undefined,
  });
}

function parsePassive(value: unknown): PassiveHealthConfig | false {
  if (value === false) return false;
  const input: Record<string, unknown> =
    value === undefined || value === true ? {} : (value as Record<string, unknown>);
  if (value !== undefined && value !== true && !isPlainObject(value)) {
    fail('ERR_LB_BAD_PASSIVE_HEALTH', 'passiveHealth', 'true, false or an object', value);
  }
  rejectUnknownKeys(input, PASSIVE_KEYS, 'passiveHealth');
  const maxEjectedPercent = input.maxEjectedPercent ?? 50;
  if (
    typeof maxEjectedPercent !== 'number' ||
    !(maxEjectedPercent >= 0 && maxEjectedPercent <= 100)
  ) {
    fail(
      'ERR_LB_BAD_PASSIVE_HEALTH',
      'passiveHealth.maxEjectedPercent',
      'a number from 0 to 100',
      maxEjectedPercent,
    );
  }
  return Object.freeze({
    failures: int(input.failures, 'passiveHealth.failures', 1, 5),
    ejectFor: duration(input.ejectFor, 'passiveHealth.ejectFor', 30_000),
    maxEjectedPercent,
    on5xx: bool(input.on5xx, 'passiveHealth.on5xx', false),
  });
}

function parseMetrics(value: unknown): Config['metrics'] {
  if (value === undefined || value === false) return false;
  const input: Record<string, unknown> = value === true ? {} : (value as Record<string, unknown>);
  if (value !== true && !isPlainObject(value))
    fail('ERR_LB_BAD_METRICS', 'metrics', 'true, false or { registry?, prefix? }', value);
  rejectUnknownKeys(input, METRICS_KEYS, 'metrics');
  const prefix = input.prefix ?? 'lb_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
    fail(
      'ERR_LB_BAD_METRICS',
      'metrics.prefix',
      'a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
      prefix,
    );
  }
  return Object.freeze({ registry: input.registry, prefix });
}

export function normalizeOptions(options: unknown): Config {
  if (!isPlainObject(options)) {
    throw new OptionsError(
      'ERR_LB_BAD_OPTIONS',
      'options',
      `options must be an object, got ${describe(options)}`,
    );
  }
  rejectUnknownKeys(options, OPTION_KEYS, '');

  const healthCheck =
    options.healthCheck === false
      ? false
      : parseHealthCheck(options.healthCheck, 'healthCheck', DEFAULT_HEALTH_CHECK);

  let upstreams: UpstreamConfig[] = [];
  let discovery: DiscoverySource | undefined;
  const rawUpstreams = options.upstreams;
  if (isDiscoverySource(rawUpstreams)) {
    discovery = rawUpstreams;
  } else {
    if (!Array.isArray(rawUpstreams) || rawUpstreams.length === 0) {
      fail(
        'ERR_LB_NO_UPSTREAMS',
        'upstreams',
        'a non-empty list of URL strings or { url, id?, weight? } objects, or a discovery source (dns(), discover())',
        rawUpstreams,
      );
    }
    upstreams = (rawUpstreams as unknown[]).map((u, i) =>
      normalizeUpstream(u, `upstreams[${i}]`, healthCheck),
    );
    const seen = new Set<string>();
    upstreams.forEach((u, i) => {
      if (seen.has(u.id)) {
        throw new OptionsError(
          'ERR_LB_DUPLICATE_UPSTREAM',
          `upstreams[${i}]`,
          `ERR_LB_DUPLICATE_UPSTREAM: upstreams[${i}] repeats id ${JSON.stringify(u.id)}; give each upstream a distinct url or id`.replace(
            /^ERR_LB_DUPLICATE_UPSTREAM: /,
            '',
          ),
        );
      }
      seen.add(u.id);
    });
  }

  const algorithm = options.algorithm ?? 'round-robin';
  if (typeof algorithm === 'string') {
    if (!isAlgorithmName(algorithm)) {
      fail(
        'ERR_LB_BAD_ALGORITHM',
        'algorithm',
        `one of ${algorithmNames.map((n) => `"${n}"`).join(', ')} or a Strategy object`,
        algorithm,
      );
    }
  } else if (!isPlainObject(algorithm) && typeof algorithm !== 'object') {
    fail('ERR_LB_BAD_ALGORITHM', 'algorithm', 'an algorithm name or a Strategy object', algorithm);
  } else if (typeof (algorithm as { pick?: unknown }).pick !== 'function') {
    fail(
      'ERR_LB_BAD_ALGORITHM',
      'algorithm',
      'an algorithm name or an object with a pick(candidates, ctx) method',
      algorithm,
    );
  }

  let hashKey: HashKeyExtractor | undefined;
  if (options.hashKey !== undefined || algorithm === 'hash') {
    hashKey = parseHashKey(options.hashKey ?? 'ip', 'hashKey');
  }

  const retries = int(options.retries, 'retries', 0, 2);
  if (retries > 100) fail('ERR_LB_BAD_NUMBER', 'retries', 'an integer from 0 to 100', retries);

  return Object.freeze({
    upstreams: Object.freeze(upstreams),
    discovery,
    algorithm: algorithm as AlgorithmName | Strategy,
    hashKey,
    sticky: parseSticky(options.sticky),
    healthCheck,
    passiveHealth: parsePassive(options.passiveHealth),
    retries,
    timeout: duration(options.timeout, 'timeout', 30_000),
    connectTimeout: duration(options.connectTimeout, 'connectTimeout', 5_000),
    changeOrigin: bool(options.changeOrigin, 'changeOrigin', false),
    pathRewrite: optionalFunction<Config['pathRewrite']>(options.pathRewrite, 'pathRewrite'),
    onError: optionalFunction<ErrorHandler>(options.onError, 'onError'),
    signal: parseSignal(options.signal),
    metrics: parseMetrics(options.metrics),
    maxSockets: int(options.maxSockets, 'maxSockets', 1, 256),
  });
}

function parseSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) fail('ERR_LB_BAD_SIGNAL', 'signal', 'an AbortSignal', value);
  return value;
}

export type { ServerResponse };
