// Package entry `loadbalance-middleware/redis`: re-exports only. Kept apart from the main entry
// so that Redis, an optional peer dependency, is never loaded by those who do not use it.

export {
  RedisSessionStore,
  RedisSessionStoreError,
  DEFAULT_COMMAND_TIMEOUT,
  DEFAULT_PREFIX,
  type RedisSessionStoreOptions,
  type RedisSessionStoreErrorCode,
  type RedisClientLike,
  type RedisCallClient,
  type RedisSendCommandClient,
} from '../session/redis-session-store';
