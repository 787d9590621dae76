// Loads the packed package with import, as an ESM app would: named imports must work.
import assert from 'node:assert';
import {
  loadBalance,
  createBalancer,
  MemorySessionStore,
  dns,
  discover,
} from 'loadbalance-middleware';
import { koaLoadBalance } from 'loadbalance-middleware/koa';
import { RedisSessionStore } from 'loadbalance-middleware/redis';
assert.strictEqual(typeof loadBalance, 'function');
assert.strictEqual(typeof createBalancer, 'function');
assert.strictEqual(typeof MemorySessionStore, 'function');
assert.strictEqual(typeof dns, 'function');
assert.strictEqual(typeof discover, 'function');
assert.strictEqual(typeof koaLoadBalance, 'function');
assert.strictEqual(typeof RedisSessionStore, 'function');
const balancer = createBalancer({ upstreams: ['http://127.0.0.1:1'], healthCheck: false });
assert.strictEqual(balancer.stats().upstreams.length, 1);
await balancer.close();
console.log('smoke.mjs ok');
