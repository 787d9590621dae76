// Faulty upstreams, one scenario per way an upstream can fail at the TCP or HTTP level. For each:
// what the client gets (502 / 504 from the balancer, or a cut-off response once headers were
// sent), no crash and no unhandled rejection, every in-flight count back to 0, the upstream's
// connection not left open, passive health reacting as the README documents ("failures"
// consecutive connect failures / timeouts / resets eject; 5xx only with on5xx), and the next
// request served by a healthy upstream.

import {
  answer,
  faultUpstream,
  rawResponse,
  type FaultScript,
  type FaultUpstream,
} from '../helpers/fault-upstream';
import {
  freePortThatRefuses,
  startUpstream,
  waitFor,
  type TestUpstream,
} from '../helpers/upstreams';
import type { BalancerEvents } from '../../src';
import {
  expectGeneric,
  recordProcessFaults,
  request,
  serveBalancer,
  steeringStrategy,
  waitIdle,
  type ProcessFaults,
  type RequestProbe,
} from './harness';

const opened: Array<{ close(): Promise<void> }> = [];
let faults: ProcessFaults;

beforeEach(() => {
  faults = recordProcessFaults();
});

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
  faults.stop();
  expect(faults.seen).toEqual([]);
});

/** Per request: the client's progress, so a script can act only once the client got headers. */
const probes: RequestProbe[] = [];

async function healthyUpstream(): Promise<TestUpstream> {
  const upstream = await startUpstream((_req, res) => res.end('healthy'));
  opened.push(upstream);
  return upstream;
}

async function fault(script: FaultScript): Promise<FaultUpstream> {
  const upstream = await faultUpstream(script);
  opened.push(upstream);
  return upstream;
}

type Expected = 502 | 504 | 'cut' | 'ok';

interface Scenario {
  name: string;
  /** undefined: nothing listens (connection refused). */
  script: FaultScript | undefined;
  expected: Expected;
  /** The outcome passive health counts, or undefined when the upstream answered. */
  counts: 'connect-failed' | 'timeout' | 'reset' | undefined;
  body?: string;
}

const TIMEOUT = 1000; // response-header timeout; the trickle lasts longer than this on purpose

const scenarios: Scenario[] = [
  { name: 'connection refused', script: undefined, expected: 502, counts: 'connect-failed' },
  {
    name: 'reset before the status line',
    script: (_req, conn) => conn.reset(),
    expected: 502,
    counts: 'reset',
  },
  {
    name: 'reset after headers, mid-body',
    script: async (_req, conn, n) => {
      await conn.write(
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n' +
          'x'.repeat(1000),
      );
      await probes[n - 1]!.headers;
      conn.reset();
    },
    expected: 'cut',
    counts: 'reset',
  },
  {
    name: 'headers that never come',
    script: () => {},
    expected: 504,
    counts: 'timeout',
  },
  {
    name: 'a body that trickles one byte a second',
    script: async (_req, conn, n) => {
      const body = 'abc';
      await conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      for (let i = 0; i < body.length; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await conn.write(body[i]!);
        // Lock-step: the next byte goes only once the client holds this one. A balancer that
        // buffered the body would never deliver it early, and this wait would run out.
        await waitFor(() => probes[n - 1]!.received === i + 1, {
          timeoutMs: 10_000,
          message: `the client received byte ${i + 1} before byte ${i + 2} was sent`,
        });
      }
    },
    expected: 'ok',
    counts: undefined,
    body: 'abc',
  },
  {
    name: 'an invalid HTTP response',
    script: (_req, conn) => void conn.write('SMTP ready, not HTTP\r\n\r\n'),
    expected: 502,
    counts: 'reset',
  },
  {
    name: 'oversized response headers',
    script: (_req, conn) =>
      void conn.write(
        `HTTP/1.1 200 OK\r\nX-Huge: ${'h'.repeat(64 * 1024)}\r\nContent-Length: 2\r\n\r\nok`,
      ),
    expected: 502,
    counts: 'reset',
  },
  {
    name: 'a chunked body with a bad chunk',
    script: async (_req, conn, n) => {
      await conn.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await probes[n - 1]!.headers;
      await conn.write('zz-not-hex\r\nbad\r\n');
    },
    expected: 'cut',
    counts: 'reset',
  },
  {
    name: 'a half-open socket (the upstream ends its write side without answering)',
    script: (_req, conn) => conn.endWrite(),
    expected: 502,
    counts: 'reset',
  },
];

describe.each(scenarios)('$name', (scenario) => {
  test('client status, no crash, in-flight 0, passive health as documented, then a healthy upstream', async () => {
    probes.length = 0;
    const healthy = await healthyUpstream();
    const faulty = scenario.script ? await fault(scenario.script) : undefined;
    const faultyUrl = faulty?.url ?? (await freePortThatRefuses());
    const steer = { to: 'faulty' };
    const lb = await serveBalancer({
      upstreams: [
        { id: 'faulty', url: faultyUrl },
        { id: 'healthy', url: healthy.url },
      ],
      algorithm: steeringStrategy(steer),
      retries: 0, // the raw outcome of one attempt; retries are covered in failures.test.ts
      timeout: TIMEOUT,
      healthCheck: false,
      passiveHealth: { failures: 2, ejectFor: 60_000 },
    });
    opened.push(lb);
    const ejections: Array<BalancerEvents['eject']> = [];
    lb.balancer.on('eject', (e) => ejections.push(e));
    const faultyStats = () => lb.balancer.stats().upstreams.find((u) => u.id === 'faulty')!;

    // An answering upstream is met once; a failing one `failures` (2) times.
    const rounds = scenario.counts ? 2 : 1;
    for (let round = 1; round <= rounds; round++) {
      const { probe, done } = request(`${lb.url}/fault/${round}`);
      probes.push(probe);
      const outcome = await done;
      if (scenario.expected === 'cut') {
        expect(outcome.status).toBe(200);
        expect(outcome.cut).toBe(true);
      } else if (scenario.expected === 'ok') {
        expect(outcome.status).toBe(200);
        expect(outcome.cut).toBe(false);
        expect(outcome.body.toString()).toBe(scenario.body);
      } else {
        expect(outcome.status).toBe(scenario.expected);
        expect(outcome.cut).toBe(false);
        expectGeneric(outcome.body.toString(), scenario.expected, faultyUrl);
      }
      await waitIdle(lb.balancer);
      if (faulty && scenario.counts) {
        // The balancer closed its side of a failed exchange: no socket left behind upstream.
        await waitFor(() => faulty.openConnections === 0, {
          message: 'the upstream connection closed',
        });
      }
      // Passive health: ejected exactly when `failures` consecutive counted outcomes happened.
      const ejectedNow = scenario.counts !== undefined && round === 2;
      expect(faultyStats().ejected).toBe(ejectedNow);
      expect(ejections).toHaveLength(ejectedNow ? 1 : 0);
    }
    if (scenario.counts) {
      expect(ejections[0]).toMatchObject({ upstream: 'faulty', ms: 60_000 });
      expect(ejections[0]!.reason).toContain(`last: ${scenario.counts}`);
      expect(faultyStats().failedRequests).toBe(2);
    } else {
      expect(faultyStats().failedRequests).toBe(0);
      steer.to = 'healthy'; // it answered: still routable, so steer away explicitly
    }
    if (faulty) expect(faulty.scriptErrors).toEqual([]);

    // The next request: a healthy upstream serves it.
    const next = await request(`${lb.url}/next`).done;
    expect(next).toMatchObject({ status: 200, cut: false });
    expect(next.body.toString()).toBe('healthy');
    await waitIdle(lb.balancer);
    expect(lb.balancer.stats().upstreams.every((u) => u.activeConnections === 0)).toBe(true);
  });
});

describe('a 5xx storm', () => {
  const STORM = 40;
  const CONCURRENCY = 8;

  async function storm(on5xx: boolean) {
    const healthy = await healthyUpstream();
    const faulty = await fault(answer(503, 'storm'));
    const lb = await serveBalancer({
      upstreams: [
        { id: 'faulty', url: faulty.url },
        { id: 'healthy', url: healthy.url },
      ],
      algorithm: steeringStrategy({ to: 'faulty' }),
      retries: 0,
      healthCheck: false,
      passiveHealth: { failures: 5, ejectFor: 60_000, on5xx },
    });
    opened.push(lb);
    const ejections: Array<BalancerEvents['eject']> = [];
    lb.balancer.on('eject', (e) => ejections.push(e));
    const replies: Array<{ status: number; body: string; startedAfterEject: boolean }> = [];
    let next = 0;
    const worker = async () => {
      while (next < STORM) {
        next++;
        const startedAfterEject = ejections.length > 0;
        const outcome = await request(`${lb.url}/storm`).done;
        expect(outcome.cut).toBe(false);
        replies.push({ status: outcome.status, body: outcome.body.toString(), startedAfterEject });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await waitIdle(lb.balancer);
    expect(faulty.scriptErrors).toEqual([]);
    return { lb, ejections, replies };
  }

  test('without on5xx: every 503 is the upstream’s, passed through, and nothing is ejected', async () => {
    const { lb, ejections, replies } = await storm(false);
    expect(replies).toHaveLength(STORM);
    expect(replies.every((r) => r.status === 503 && r.body === 'storm')).toBe(true);
    expect(ejections).toEqual([]);
    // Answered by an upstream: not the balancer's failures.
    expect(lb.balancer.stats()).toMatchObject({
      totalRequests: STORM,
      successfulRequests: STORM,
      failedRequests: 0,
    });
  });

  test('with on5xx: ejected once after `failures` 5xx, and later requests go to the healthy one', async () => {
    const { lb, ejections, replies } = await storm(true);
    expect(ejections).toHaveLength(1);
    expect(ejections[0]).toMatchObject({ upstream: 'faulty' });
    expect(ejections[0]!.reason).toContain('http 503');
    const storms = replies.filter((r) => r.body === 'storm').length;
    // 5 to eject, plus at most the ones already in flight when it happened.
    expect(storms).toBeGreaterThanOrEqual(5);
    expect(storms).toBeLessThanOrEqual(5 + CONCURRENCY - 1);
    expect(replies.filter((r) => r.startedAfterEject).every((r) => r.body === 'healthy')).toBe(
      true,
    );
    expect(replies.every((r) => r.body === 'storm' || r.body === 'healthy')).toBe(true);
    expect(lb.balancer.stats().upstreams.find((u) => u.id === 'faulty')!.ejected).toBe(true);
  });
});

test('the fault upstream itself: a raw response parses as written (helper sanity)', async () => {
  const upstream = await fault(answer(201, 'made'));
  const lb = await serveBalancer({ upstreams: [upstream.url], healthCheck: false });
  opened.push(lb);
  const outcome = await request(`${lb.url}/x`).done;
  expect(outcome).toMatchObject({ status: 201, cut: false });
  expect(outcome.body.toString()).toBe('made');
  expect(upstream.requests[0]!.target).toBe('/x');
  expect(rawResponse(200, 'é')).toContain('Content-Length: 2');
});
