// Tests discover() as a source: it calls the user's function with the refresh's signal, passes
// its list on with the source's authority, refuses an answer that is not a list, and checks its
// options at the call. What the loop does with the answer is discovery-loop.test.ts's business.

import { discover } from '../../../src/discovery/discover';
import { DiscoveryError } from '../../../src/discovery/discovery-error';
import { OptionsError } from '../../../src/errors';

test('the function gets the signal; its list is the answer', async () => {
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  const source = discover(
    ({ signal }) => {
      seen = signal;
      return ['http://10.0.0.1:3000', { url: 'http://10.0.0.2:3000', weight: 2 }];
    },
    { interval: 500 },
  );
  expect(source).toMatchObject({ kind: 'discovery', name: 'discover', interval: 500 });
  expect(source.timeout).toBeUndefined();
  expect(source.originHost).toBeUndefined();
  const result = await source.resolve({ signal: controller.signal });
  expect(seen).toBe(controller.signal);
  expect(result).toEqual({
    upstreams: ['http://10.0.0.1:3000', { url: 'http://10.0.0.2:3000', weight: 2 }],
    authoritative: false,
  });
});

test('name, timeout and authoritative are passed on', async () => {
  const source = discover(() => [], {
    name: 'consul:users',
    timeout: 50,
    authoritative: true,
  });
  expect(source.name).toBe('consul:users');
  expect(source.timeout).toBe(50);
  expect(source.interval).toBe(10_000);
  expect(await source.resolve({ signal: new AbortController().signal })).toEqual({
    upstreams: [],
    authoritative: true,
  });
});

test.each([null, undefined, 'http://10.0.0.1', { upstreams: [] }])(
  'an answer that is not a list (%p) is a bad answer',
  async (answer) => {
    const source = discover(() => answer as never);
    const failed = source.resolve({ signal: new AbortController().signal });
    await expect(failed).rejects.toBeInstanceOf(DiscoveryError);
    await expect(failed).rejects.toMatchObject({ code: 'ERR_LB_DISCOVERY_BAD_ANSWER' });
  },
);

test.each([
  { fn: 'nope', options: undefined, message: /discover\(fn\) must be an async/ },
  { fn: () => [], options: { interval: -1 }, message: /discover\(\)\.interval/ },
  {
    fn: () => [],
    options: { authoritive: true },
    message: /did you mean discover\(\)\.authoritative/,
  },
  { fn: () => [], options: { name: '' }, message: /discover\(\)\.name must be a non-empty/ },
  { fn: () => [], options: { timeout: 0 }, message: /discover\(\)\.timeout/ },
])('bad options throw at the call: $options', ({ fn, options, message }) => {
  const call = (): unknown => discover(fn as never, options);
  expect(call).toThrow(OptionsError);
  expect(call).toThrow(message);
});
