// The `loadbalance-middleware/koa` entry point: re-exports only. Kept apart from `.` so that
// Express and plain node:http users never load the Koa glue.

export {
  koaLoadBalance,
  type KoaLoadBalancer,
  type KoaContextLike,
  type KoaNext,
} from '../adapters/koa';
export type { Options, ErrorHandler } from '../options';
export type { BalancerMembers } from '../adapters/express';
export type { LoadBalancerStats } from '../metrics/stats';
