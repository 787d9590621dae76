// Koa glue: koaLoadBalance(options) is a (ctx, next) => Promise<void> middleware carrying the
// balancer's members. It sets ctx.respond = false, hands ctx.req/ctx.res (and a body a Koa parser
// already read) to Balancer.handle, and settles when the response has finished or closed. It
// never calls next (it answers) and holds no balancing logic. Types are structural and nothing
// is imported from koa, so neither koa nor @types/koa is needed to load or type this module.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Balancer, type BalancerInternals } from '../balancer';
import type { ErrorHandler, Options } from '../options';
import { TRUSTED_HOST } from '../proxy/headers';
import { withMembers, type BalancerMembers } from './express';

/** The parts of a Koa context (Koa 2 and 3) the balancer reads or sets. */
export interface KoaContextLike {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  respond?: boolean;
  /** Koa's client address, protocol and TLS flag: they honour `app.proxy`. */
  readonly ip: string;
  readonly protocol: string;
  readonly secure: boolean;
  /** Koa's host (X-Forwarded-Host under `app.proxy`), sent upstream as X-Forwarded-Host. */
  readonly host?: string;
  readonly originalUrl: string;
  /** `body` and `rawBody` as @koa/bodyparser (and koa-bodyparser) leave them. */
  readonly request: { readonly body?: unknown; readonly rawBody?: unknown };
}

export type KoaNext = () => Promise<unknown>;

export interface KoaLoadBalancer extends BalancerMembers<KoaLoadBalancer> {
  /** Answers the request; resolves once the response has finished or closed. Never calls next. */
  (ctx: KoaContextLike, next?: KoaNext): Promise<void>;
}

/** The fields Express puts on req, which the core reads (hashKey 'ip', X-Forwarded-Proto, …). */
type ExpressLikeRequest = IncomingMessage & {
  ip?: unknown;
  protocol?: unknown;
  secure?: unknown;
  originalUrl?: unknown;
};

type RouteToKoa = (error: unknown) => void;

/**
 * Gives the core Koa's view of the client — `ctx.ip`, `ctx.protocol`, `ctx.secure` honour
 * `app.proxy` as Express's req.ip & co. honour `trust proxy` — and the URL the client asked for.
 * Fields something else already set are left alone.
 */
function shareRequestFacts(ctx: KoaContextLike): void {
  const req = ctx.req as ExpressLikeRequest;
  req.ip ??= ctx.ip;
  req.protocol ??= ctx.protocol;
  req.secure ??= ctx.secure;
  req.originalUrl ??= ctx.originalUrl;
  const vouched = req as IncomingMessage & { [TRUSTED_HOST]?: string };
  if (typeof ctx.host === 'string' && ctx.host !== '') vouched[TRUSTED_HOST] ??= ctx.host;
}

/**
 * The body to replay when a Koa body parser already read the stream: its raw text when it kept
 * one (byte-exact), else its parsed value. Nothing when the stream is unread (the parser skipped
 * this content type): then it streams.
 */
function consumedBodyOf(ctx: KoaContextLike): unknown {
  if (!ctx.req.readableEnded) return undefined;
  const { rawBody, body } = ctx.request;
  if (typeof rawBody === 'string' || rawBody instanceof Uint8Array) return rawBody;
  return body;
}

/**
 * With a user `onError`, an error it throws goes to Koa (the middleware rejects with it) instead
 * of the balancer's fallback answer. Without `onError` the options are used as they are.
 */
function withKoaErrorRouting(
  options: Options,
  routes: WeakMap<IncomingMessage, RouteToKoa>,
): Options {
  const onError = (options as Partial<Options> | null | undefined)?.onError;
  if (typeof onError !== 'function') return options; // unset, or invalid: normalizeOptions says so
  const routed: ErrorHandler = (err, req, res) => {
    try {
      onError(err, req, res);
    } catch (thrown) {
      const route = routes.get(req);
      // Not a Koa request, or it already wrote: the balancer falls back (or cuts the response).
      if (!route || res.headersSent || res.writableEnded) throw thrown;
      route(thrown);
    }
  };
  return { ...options, onError: routed };
}

export function koaLoadBalance(options: Options, internals?: BalancerInternals): KoaLoadBalancer {
  const routes = new WeakMap<IncomingMessage, RouteToKoa>();
  const balancer = new Balancer(withKoaErrorRouting(options, routes), internals);

  const middleware = (ctx: KoaContextLike): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const { req, res } = ctx;
      const respond = ctx.respond;
      const settle = (): void => {
        res.off('finish', finished);
        res.off('close', finished);
        routes.delete(req);
      };
      const finished = (): void => {
        settle();
        resolve();
      };
      const toKoa = (error: unknown): void => {
        settle();
        ctx.respond = respond; // Koa (or an error-handling middleware) answers this one
        reject(error instanceof Error ? error : new Error('non-error thrown', { cause: error }));
      };
      // The balancer writes ctx.res itself; Koa must not answer after it.
      ctx.respond = false;
      res.once('finish', finished);
      res.once('close', finished);
      routes.set(req, toKoa);
      shareRequestFacts(ctx);
      try {
        balancer.handle(req, res, consumedBodyOf(ctx));
      } catch (error) {
        toKoa(error);
      }
    });

  return withMembers(middleware, balancer) as KoaLoadBalancer;
}
