// Public entry point: re-exports only.

export { loadBalance, type LoadBalancer, type BalancerMembers } from './adapters/express';
export { Balancer, createBalancer, type BalancerInternals } from './balancer';
export type { LoadBalancerStats, UpstreamStats } from './metrics/stats';
export type { LoadBalancerMetrics, MetricsRegistry, NodeMiddleware } from './metrics/prometheus';
export type {
  StatusPageOptions,
  StatusPageMiddleware,
  StatusSnapshot,
  StatusPageUpstream,
} from './metrics/status-page/status-page';
export type {
  Options,
  UpstreamInput,
  UpstreamOptions,
  UpstreamHealthCheckOptions,
  StickyOptions,
  PassiveHealthOptions,
  MetricsOptions,
  HashKeyOption,
  ErrorHandler,
} from './options';
export type { Strategy, PickContext, RequestOutcome } from './strategies/strategy';
export type { AlgorithmName } from './strategies/registry';
export type { UpstreamView, HealthState } from './upstream';
export type { Clock, Random } from './clock';
export type { BalancerEvents, BalancerEventName, BalancerListener } from './events';
export type { SessionStore } from './session/session-store';
export {
  dns,
  type DnsOptions,
  type DnsResolver,
  type DnsRecordWithTtl,
  type DnsSrvRecord,
} from './discovery/dns';
export { discover, type DiscoverFunction, type DiscoverOptions } from './discovery/discover';
export type {
  DiscoverySource,
  DiscoveryResult,
  DiscoveryContext,
} from './discovery/discovery-source';
export { DiscoveryError, type DiscoveryErrorCode } from './discovery/discovery-error';
export { MemorySessionStore, type MemorySessionStoreOptions } from './session/memory-session-store';
export {
  LoadBalancerError,
  NoUpstreamError,
  UpstreamUnreachableError,
  UpstreamTimeoutError,
  OptionsError,
} from './errors';
