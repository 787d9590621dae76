// Loads the packed package with require(), as a CommonJS app would.
const assert = require('node:assert');
const lb = require('loadbalance-middleware');
assert.strictEqual(typeof lb.loadBalance, 'function');
assert.strictEqual(typeof lb.createBalancer, 'function');
assert.strictEqual(typeof lb.MemorySessionStore, 'function');
const balancer = lb.loadBalance({ upstreams: ['http://127.0.0.1:1'], healthCheck: false });
assert.strictEqual(typeof balancer, 'function');
assert.strictEqual(balancer.stats().upstreams.length, 1);
assert.throws(() => lb.loadBalance({ upstreams: [] }), /upstreams/);
balancer.close().then(() => console.log('smoke.cjs ok'));
assert.strictEqual(typeof require('loadbalance-middleware/koa').koaLoadBalance, 'function');
assert.strictEqual(typeof require('loadbalance-middleware/redis').RedisSessionStore, 'function');
assert.strictEqual(typeof lb.dns, 'function');
assert.strictEqual(typeof lb.discover, 'function');
