// Loads the packed package with import, as an ESM app would: named imports must work.
import assert from 'node:assert';
import { loadBalance, createBalancer, MemorySessionStore } from 'loadbalance-middleware';
assert.strictEqual(typeof loadBalance, 'function');
assert.strictEqual(typeof createBalancer, 'function');
assert.strictEqual(typeof MemorySessionStore, 'function');
const balancer = createBalancer({ upstreams: ['http://127.0.0.1:1'], healthCheck: false });
assert.strictEqual(balancer.stats().upstreams.length, 1);
await balancer.close();
console.log('smoke.mjs ok');
