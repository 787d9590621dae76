// Tests HTTP and TCP probes against real servers on 127.0.0.1: verdicts, reasons, the request a
// probe sends, and that a probe leaves no socket behind, whatever ends it.

import type { HealthCheckConfig } from '../../../src/options';
import {
  PROBE_USER_AGENT,
  httpProbe,
  probe,
  probePath,
  reasonOf,
  tcpProbe,
} from '../../../src/health/probes';
import {
  freePortThatRefuses,
  hangingUpstream,
  resettingUpstream,
  slowUpstream,
  startUpstream,
  statusUpstream,
  waitFor,
  type TestUpstream,
} from '../../helpers/upstreams';

// The probe's version string is kept by hand; this keeps it in step with package.json.
const { version: packageVersion } = jest.requireActual<{ version: string }>(
  '../../../package.json',
);

function config(overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return {
    type: 'http',
    path: '/health',
    method: 'GET',
    interval: 5000,
    timeout: 2000,
    failureThreshold: 3,
    successThreshold: 2,
    expectStatus: (status) => status >= 200 && status < 400,
    headers: {},
    ...overrides,
  };
}

const open: TestUpstream[] = [];
async function track<T extends TestUpstream>(upstream: Promise<T>): Promise<T> {
  const u = await upstream;
  open.push(u);
  return u;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((u) => u.close()));
});

const signal = (): AbortSignal => new AbortController().signal;

function connections(upstream: TestUpstream): Promise<number> {
  return new Promise((resolve, reject) =>
    upstream.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** The server side sees the probe's connection end: nothing was left open. */
async function expectNoConnectionLeft(upstream: TestUpstream): Promise<void> {
  let n: number;
  const deadline = Date.now() + 5000;
  while ((n = await connections(upstream)) !== 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(n).toBe(0);
}

describe('httpProbe', () => {
  test.each([
    { status: 200, passed: true },
    { status: 204, passed: true },
    { status: 302, passed: true },
    { status: 404, passed: false },
    { status: 500, passed: false },
    { status: 503, passed: false },
  ])('default expectStatus: $status → passed $passed', async ({ status, passed }) => {
    const upstream = await track(statusUpstream(status));
    const result = await httpProbe(new URL(upstream.url), config(), signal());
    expect(result).toEqual({ passed, reason: `http ${status}` });
    await expectNoConnectionLeft(upstream);
  });

  test('a custom expectStatus decides', async () => {
    const teapot = await track(statusUpstream(418));
    const ok = await track(statusUpstream(200));
    const only418 = config({ expectStatus: (s) => s === 418 });
    expect(await httpProbe(new URL(teapot.url), only418, signal())).toEqual({
      passed: true,
      reason: 'http 418',
    });
    expect(await httpProbe(new URL(ok.url), only418, signal())).toEqual({
      passed: false,
      reason: 'http 200',
    });
  });

  test('sends method, base path + path, headers and its User-Agent on a fresh connection', async () => {
    const seen: Array<{ method?: string; url?: string; headers: Record<string, unknown> }> = [];
    const upstream = await track(
      startUpstream((req, res) => {
        seen.push({ method: req.method, url: req.url, headers: req.headers });
        res.end();
      }),
    );
    const cfg = config({ method: 'HEAD', path: '/healthz', headers: { 'x-probe': 'yes' } });
    const result = await httpProbe(new URL(`${upstream.url}/api/v1/`), cfg, signal());
    expect(result).toEqual({ passed: true, reason: 'http 200' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'HEAD',
      url: '/api/v1/healthz',
      headers: { 'user-agent': PROBE_USER_AGENT, 'x-probe': 'yes', connection: 'close' },
    });
    expect(PROBE_USER_AGENT).toBe(`loadbalance-middleware-health/${packageVersion}`);
  });

  test("a User-Agent in config.headers wins over the probe's", async () => {
    let agent: string | undefined;
    const upstream = await track(
      startUpstream((req, res) => {
        agent = req.headers['user-agent'];
        res.end();
      }),
    );
    await httpProbe(new URL(upstream.url), config({ headers: { 'user-agent': 'mine' } }), signal());
    expect(agent).toBe('mine');
  });

  test('reads and discards a large body, then the connection closes', async () => {
    const upstream = await track(
      startUpstream((_req, res) => {
        res.end(Buffer.alloc(4 * 1024 * 1024, 'x'));
      }),
    );
    expect(await httpProbe(new URL(upstream.url), config(), signal())).toEqual({
      passed: true,
      reason: 'http 200',
    });
    await expectNoConnectionLeft(upstream);
  });

  test('nothing listening → ECONNREFUSED', async () => {
    const url = await freePortThatRefuses();
    expect(await httpProbe(new URL(url), config(), signal())).toEqual({
      passed: false,
      reason: 'ECONNREFUSED',
    });
  });

  test('a connection reset → ECONNRESET', async () => {
    const upstream = await track(resettingUpstream());
    expect(await httpProbe(new URL(upstream.url), config(), signal())).toEqual({
      passed: false,
      reason: 'ECONNRESET',
    });
  });

  test('a hanging upstream → timeout, and its connection is closed', async () => {
    const upstream = await track(hangingUpstream());
    const result = await httpProbe(new URL(upstream.url), config({ timeout: 200 }), signal());
    expect(result).toEqual({ passed: false, reason: 'timeout' });
    await expectNoConnectionLeft(upstream);
  });

  test('a timeout beyond the timer range is clamped, not turned into 1 ms', async () => {
    const upstream = await track(slowUpstream(30));
    const result = await httpProbe(new URL(upstream.url), config({ timeout: 1e12 }), signal());
    expect(result).toEqual({ passed: true, reason: 'http 200' });
  });

  test('an abort ends a probe in flight with reason aborted', async () => {
    const upstream = await track(hangingUpstream());
    const controller = new AbortController();
    const pending = httpProbe(
      new URL(upstream.url),
      config({ timeout: 20_000 }),
      controller.signal,
    );
    await waitFor(() => upstream.requests === 1, { message: 'probe reached the server' });
    controller.abort();
    expect(await pending).toEqual({ passed: false, reason: 'aborted' });
    await expectNoConnectionLeft(upstream);
  });

  test('an already aborted signal resolves without connecting', async () => {
    const upstream = await track(statusUpstream(200));
    const controller = new AbortController();
    controller.abort();
    expect(await httpProbe(new URL(upstream.url), config(), controller.signal)).toEqual({
      passed: false,
      reason: 'aborted',
    });
    expect(await connections(upstream)).toBe(0);
    expect(upstream.requests).toBe(0);
  });

  test('an invalid header resolves as a failure instead of rejecting', async () => {
    const upstream = await track(statusUpstream(200));
    const result = await httpProbe(
      new URL(upstream.url),
      config({ headers: { 'x-bad': 'line\nbreak' } }),
      signal(),
    );
    expect(result.passed).toBe(false);
    expect(result.reason).toBe('ERR_INVALID_CHAR');
  });
});

describe('tcpProbe', () => {
  test('a listening port → connected', async () => {
    const upstream = await track(hangingUpstream());
    expect(await tcpProbe(new URL(upstream.url), config({ type: 'tcp' }), signal())).toEqual({
      passed: true,
      reason: 'connected',
    });
    // It only connects: no HTTP request is sent, and the socket is gone.
    expect(upstream.requests).toBe(0);
    await expectNoConnectionLeft(upstream);
  });

  test('nothing listening → ECONNREFUSED', async () => {
    const url = await freePortThatRefuses();
    expect(await tcpProbe(new URL(url), config({ type: 'tcp' }), signal())).toEqual({
      passed: false,
      reason: 'ECONNREFUSED',
    });
  });

  test('an already aborted signal resolves as aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const url = await freePortThatRefuses();
    expect(await tcpProbe(new URL(url), config({ type: 'tcp' }), controller.signal)).toEqual({
      passed: false,
      reason: 'aborted',
    });
  });
});

describe('probe', () => {
  test('dispatches on config.type', async () => {
    const upstream = await track(statusUpstream(503));
    const target = new URL(upstream.url);
    expect(await probe(target, config({ type: 'http' }), signal())).toEqual({
      passed: false,
      reason: 'http 503',
    });
    expect(await probe(target, config({ type: 'tcp' }), signal())).toEqual({
      passed: true,
      reason: 'connected',
    });
  });
});

describe('helpers', () => {
  test.each([
    ['http://h', '/health', '/health'],
    ['http://h/', '/health', '/health'],
    ['http://h/api', '/health', '/api/health'],
    ['http://h/api/', '/health', '/api/health'],
    ['http://h/api', '/', '/api/'],
    ['http://h', '/health?full=1', '/health?full=1'],
  ])('probePath(%s, %s) = %s', (url, path, expected) => {
    expect(probePath(new URL(url), path)).toBe(expected);
  });

  test('reasonOf prefers an error code, then a nested one, then the message', () => {
    expect(reasonOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(
      reasonOf(new AggregateError([Object.assign(new Error('y'), { code: 'EHOSTUNREACH' })])),
    ).toBe('EHOSTUNREACH');
    expect(reasonOf(new Error('boom'))).toBe('boom');
    expect(reasonOf('weird')).toBe('weird');
  });
});
