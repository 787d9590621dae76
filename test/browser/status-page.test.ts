// The status page (lb.statusPage()) as an operator sees it: real headless Chromium through
// playwright-core loads the page from a real Express app with real upstreams and traffic, and
// the test reads the DOM it draws (rows, charts, live updates, hostile ids shown as text). Its
// HTTP side (status.json, headers, mounting under node:http and Koa, options) is checked without
// a browser. It saves the screenshot docs/status-page.png. It owns no production code and mocks
// nothing; without /usr/bin/chromium it skips loudly, and fails under CI=true.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import { join } from 'node:path';
import express from 'express';
import Koa from 'koa';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadBalance, OptionsError, type LoadBalancer, type StatusSnapshot } from '../../src';
import { closeServer, listen, send, urlOf } from '../helpers/client';
import {
  freePortThatRefuses,
  startUpstream,
  statusUpstream,
  waitFor,
  type TestUpstream,
} from '../helpers/upstreams';

// The page's own globals, for the callbacks that run inside Chromium (page.waitForFunction,
// page.evaluate). Declared here, in this module only: the project compiles without lib.dom.
interface PageElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  getElementById(id: string): PageElement | null;
};

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOT = join(__dirname, '..', '..', 'docs', 'status-page.png');
const HOSTILE_ID = '<img src=x onerror=alert(1)>';
const HOSTILE_ID_2 = '"><script>alert(2)</script>';

const haveChromium = existsSync(CHROMIUM);
const inCI = process.env.CI === 'true';
if (!haveChromium && !inCI) {
  console.warn(
    `\n*** SKIPPED: the status page browser tests need Chromium at ${CHROMIUM} ` +
      '(apt-get install -y chromium). Under CI=true they fail instead. ***\n',
  );
}
/** Runs in a browser when Chromium is there; under CI=true it runs (and fails) regardless. */
const browserTest = haveChromium || inCI ? test : test.skip;

const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close();
});

async function upstream<T extends TestUpstream>(p: Promise<T>): Promise<T> {
  const u = await p;
  opened.push(u);
  return u;
}

function track(lb: LoadBalancer): LoadBalancer {
  opened.push({ close: () => lb.close() });
  return lb;
}

async function serveApp(app: http.RequestListener): Promise<Server> {
  const server = await listen(http.createServer(app));
  opened.push({ close: () => closeServer(server) });
  return server;
}

/** Sends requests through `url` with `concurrency` loops until stop() resolves. */
function traffic(url: string, concurrency: number): { sent: () => number; stop(): Promise<void> } {
  let running = true;
  let sent = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      await send(url).catch(() => undefined);
      sent++;
    }
  });
  const handle = {
    sent: () => sent,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
  opened.push({ close: () => handle.stop() });
  return handle;
}

/** An upstream that answers 200 after a delay given (in ms) by `delay(elapsed since start)`. */
function delayedUpstream(delay: (elapsedMs: number) => number): Promise<TestUpstream> {
  const started = Date.now();
  return startUpstream((_req, res) => {
    const timer = setTimeout(() => res.end('ok'), Math.max(0, delay(Date.now() - started)));
    res.on('close', () => clearTimeout(timer));
  });
}

/** Page errors and console errors (a CSP violation is reported as one). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('dialog', (dialog) => {
    errors.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return errors;
}

interface RowText {
  id: string;
  health: string;
  weight: string;
  inFlight: string;
  share: string;
  requests: string;
  failed: string;
  latency: string;
  sparkPath: boolean;
}

function readRows(page: Page): Promise<RowText[]> {
  return page.$$eval('tr[data-upstream]', (trs) =>
    trs.map((tr) => {
      const text = (selector: string) => tr.querySelector(selector)?.textContent ?? '';
      return {
        id: tr.getAttribute('data-upstream') ?? '',
        health: text('td.health'),
        weight: text('td.weight'),
        inFlight: text('td.inFlight'),
        share: text('td.share .pct'),
        requests: text('td.requests'),
        failed: text('td.failed'),
        latency: text('td.latency'),
        sparkPath: tr.querySelector('svg.spark path.series') !== null,
      };
    }),
  );
}

const count = (text: string) => Number(text.replace(/[^\d]/g, ''));

describe('in Chromium', () => {
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!haveChromium && inCI) {
      throw new Error(`CI=true and ${CHROMIUM} is missing: .ci/run must install chromium`);
    }
    if (!haveChromium) return;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function openPage(url: string): Promise<{ page: Page; errors: string[] }> {
    const context = await browser!.newContext({
      viewport: { width: 1280, height: 820 },
      deviceScaleFactor: 1,
    });
    opened.push({ close: () => context.close() });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(url);
    return { page, errors };
  }

  browserTest(
    'shows every upstream, draws the charts, follows new traffic, and looks right',
    async () => {
      const dead = await freePortThatRefuses();
      const ups = await Promise.all([
        upstream(delayedUpstream((t) => 6 + 3 * Math.sin(t / 700))),
        upstream(delayedUpstream((t) => 18 + 8 * Math.sin(t / 1100 + 1))),
        upstream(delayedUpstream((t) => 55 + 30 * Math.sin(t / 1500 + 2) + (t > 5000 ? 25 : 0))),
      ]);
      const lb = track(
        loadBalance({
          upstreams: [
            { id: 'orders-1', url: ups[0].url },
            { id: 'orders-2', url: ups[1].url, weight: 2 },
            { id: 'orders-3', url: ups[2].url },
            { id: 'orders-4', url: dead },
          ],
          algorithm: 'least-connections',
          healthCheck: { interval: 60_000, failureThreshold: 1, successThreshold: 1 },
        }),
      );
      const app = express();
      app.use(
        '/ops/status',
        lb.statusPage({ title: 'orders pool', bucketMs: 500, historyMs: 60_000 }),
      );
      app.use('/api/orders', lb);
      const server = await serveApp(app);
      await lb.checkHealth(); // orders-4 refuses: unhealthy before any traffic

      // no trailing slash: the page still finds status.json under its mount point
      const { page, errors } = await openPage(urlOf(server, '/ops/status'));
      await page.waitForFunction(
        () => document.querySelectorAll('tr[data-upstream]').length === 4,
        undefined,
        {
          timeout: 5000,
        },
      );
      expect(await page.textContent('h1')).toBe('orders pool');
      let rows = await readRows(page);
      expect(rows.map((r) => r.id)).toEqual(['orders-1', 'orders-2', 'orders-3', 'orders-4']);
      expect(rows.map((r) => r.health)).toEqual(['healthy', 'healthy', 'healthy', 'unhealthy']);
      expect(rows.map((r) => r.weight)).toEqual(['1', '2', '1', '1']);
      expect(rows.every((r) => r.requests === '0' && r.inFlight === '0')).toBe(true);
      // ids only: no upstream address anywhere on the page
      expect(await page.content()).not.toContain('127.0.0.1');

      // traffic: the rows and the charts follow
      const load = traffic(urlOf(server, '/api/orders/item'), 6);
      await page.waitForFunction(
        () => {
          const lines = document.querySelectorAll('#chart-rps path.series').length;
          const latency = document.querySelectorAll('#chart-latency path.series').length;
          return lines >= 3 && latency >= 3;
        },
        undefined,
        { timeout: 10_000 },
      );
      const before = count((await page.textContent('#k-total')) ?? '');
      expect(before).toBeGreaterThan(0);
      await waitFor(() => load.sent() > before + 50, {
        timeoutMs: 10_000,
        message: 'more traffic',
      });
      await page.waitForFunction(
        (n) =>
          Number((document.getElementById('k-total')?.textContent ?? '').replace(/\D/g, '')) >
          n + 50,
        before,
        { timeout: 5000 },
      );
      rows = await readRows(page);
      for (const row of rows.slice(0, 3)) {
        expect(count(row.requests)).toBeGreaterThan(0);
        expect(row.share).toMatch(/^\d+ %$/);
        expect(row.latency).toMatch(/ms$/);
        expect(row.sparkPath).toBe(true);
      }
      expect(rows[3]).toMatchObject({ requests: '0', share: '0 %', health: 'unhealthy' });
      // least-connections: the slow upstream gets the smallest share
      const shares = rows.map((r) => count(r.share));
      expect(shares[2]).toBeLessThan(shares[0]!);

      // before the screenshot, let the latency chart fill its first window (30 buckets of 500 ms)
      await page.waitForFunction(
        () =>
          (document.querySelector('#chart-latency path.series')?.getAttribute('d') ?? '').split('L')
            .length >= 28,
        undefined,
        { timeout: 25_000, polling: 250 },
      );
      const png = await page.screenshot({ fullPage: true });
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      // Rewrites the committed screenshot only when asked (or when it is missing), so a test run
      // does not leave the work tree dirty.
      if (process.env.LB_UPDATE_SCREENSHOT === '1' || !existsSync(SCREENSHOT)) {
        mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
        writeFileSync(SCREENSHOT, png);
      }

      // traffic stops: in flight goes back to 0 on the page
      await load.stop();
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('tr[data-upstream] td.inFlight')].every(
            (td) => td.textContent === '0',
          ) && document.getElementById('k-inflight')?.textContent === '0',
        undefined,
        { timeout: 5000 },
      );
      expect(errors).toEqual([]);
    },
    60_000,
  );

  browserTest('shows hostile upstream ids and titles as text, never as markup', async () => {
    const a = await upstream(statusUpstream(200));
    const b = await upstream(statusUpstream(200));
    const lb = track(
      loadBalance({
        upstreams: [
          { id: HOSTILE_ID, url: a.url },
          { id: HOSTILE_ID_2, url: b.url },
        ],
        healthCheck: false,
      }),
    );
    const app = express();
    app.use('/status', lb.statusPage({ title: '<b>pool</b> & "co"', bucketMs: 250 }));
    app.use('/api', lb);
    const server = await serveApp(app);
    for (let i = 0; i < 4; i++) await send(urlOf(server, '/api/x'));

    const { page, errors } = await openPage(urlOf(server, '/status/'));
    await page.waitForFunction(
      () => document.querySelectorAll('tr[data-upstream]').length === 2,
      undefined,
      {
        timeout: 5000,
      },
    );
    const ids = await page.$$eval('tr[data-upstream] .id', (els) => els.map((e) => e.textContent));
    expect(ids).toEqual([HOSTILE_ID, HOSTILE_ID_2]);
    expect(await page.textContent('h1')).toBe('<b>pool</b> & "co"');
    expect(await page.title()).toBe('<b>pool</b> & "co" · status');
    await page.waitForFunction(
      () => document.querySelectorAll('#chart-rps path.series').length === 2,
      undefined,
      {
        timeout: 5000,
      },
    );
    const legend = await page.$$eval('#legend .item', (els) => els.map((e) => e.textContent));
    expect(legend).toEqual([HOSTILE_ID, HOSTILE_ID_2]);
    const injected = await page.evaluate(() => ({
      img: document.querySelectorAll('img').length,
      scripts: document.querySelectorAll('script').length,
      bold: document.querySelectorAll('b').length,
    }));
    expect(injected).toEqual({ img: 0, scripts: 1, bold: 0 });
    expect(errors).toEqual([]);
  });
});

describe('over HTTP', () => {
  async function pool(options: Parameters<LoadBalancer['statusPage']>[0] = {}) {
    const ok = await upstream(statusUpstream(200));
    const fails = await upstream(statusUpstream(500));
    const lb = track(
      loadBalance({
        upstreams: [
          { id: 'ok', url: ok.url },
          { id: 'fails', url: fails.url },
        ],
        healthCheck: false,
      }),
    );
    const page = lb.statusPage({ bucketMs: 100, historyMs: 2000, ...options });
    return { lb, page, ok, fails };
  }

  test('status.json has the pool, ids without URLs, and the recent history', async () => {
    const { lb, page, ok } = await pool();
    const app = express();
    app.use('/status', page);
    app.use('/api', lb);
    const server = await serveApp(app);
    for (let i = 0; i < 6; i++) await send(urlOf(server, '/api/x'));
    // the history shows complete buckets only: poll until those requests are in one
    const deadline = Date.now() + 5000;
    const inHistory = (data: StatusSnapshot) =>
      data.upstreams.reduce((sum, u) => sum + u.requests.reduce((a, b) => a + b, 0), 0);
    while (
      inHistory((await send(urlOf(server, '/status/status.json'))).json<StatusSnapshot>()) < 6
    ) {
      if (Date.now() > deadline) throw new Error('six requests not in the history within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const reply = await send(urlOf(server, '/status/status.json'));
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.text).not.toContain('127.0.0.1');
    expect(reply.text).not.toContain(String(ok.port));
    const data = reply.json<StatusSnapshot>();
    expect(data.bucketMs).toBe(100);
    expect(data.historyMs).toBe(2000);
    expect(data.totals).toMatchObject({
      totalRequests: 6,
      successfulRequests: 6,
      failedRequests: 0,
    });
    expect(data.upstreams.map((u) => [u.id, u.url, u.health, u.inFlight, u.totalRequests])).toEqual(
      [
        ['ok', undefined, 'unknown', 0, 3],
        ['fails', undefined, 'unknown', 0, 3],
      ],
    );
    expect(data.upstreams.map((u) => u.share)).toEqual([0.5, 0.5]);
    for (const u of data.upstreams) {
      expect(u.requests).toHaveLength(data.answered.length);
      expect(u.latencyMs).toHaveLength(data.answered.length);
      expect(u.latencyMs.some((v) => v !== null && v >= 0)).toBe(true);
      expect(u.errors.every((v) => v === 0)).toBe(true);
    }
    expect(data.answered.length).toBeGreaterThanOrEqual(2);
    expect(data.answered.length).toBeLessThanOrEqual(20);
    expect(data.start % 100).toBe(0);
  });

  test('showUrls: true adds each upstream’s URL', async () => {
    const { page, ok } = await pool({ showUrls: true });
    const server = await serveApp(express().use('/status', page));
    const data = (await send(urlOf(server, '/status/status.json'))).json<StatusSnapshot>();
    expect(data.upstreams[0]!.url).toBe(ok.url);
  });

  test('the HTML forbids external loads and framing; HEAD works; other methods go on', async () => {
    const { page } = await pool({ title: 'a <b> & c' });
    const app = express();
    app.use('/status', page);
    app.use((_req, res) => {
      res.status(404).end('next');
    });
    const server = await serveApp(app);
    const reply = await send(urlOf(server, '/status'));
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(reply.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).not.toMatch(/unsafe-inline|https?:/);
    expect(reply.headers['x-frame-options']).toBe('DENY');
    expect(reply.text).toContain('<h1>a &lt;b&gt; &amp; c</h1>');
    expect(reply.text).not.toMatch(/(src|href)="https?:/);
    const head = await send(urlOf(server, '/status'), { method: 'HEAD' });
    expect([head.status, head.text, head.headers['content-length']]).toEqual([
      200,
      '',
      String(Buffer.byteLength(reply.text)),
    ]);
    const post = await send(urlOf(server, '/status/status.json'), { method: 'POST' });
    expect([post.status, post.text]).toEqual([404, 'next']);
  });

  test('works on plain node:http (full path) and on Koa through ctx.req / ctx.res', async () => {
    const { page } = await pool();
    const plain = await serveApp((req, res) => {
      if (req.url?.startsWith('/status')) return page(req, res);
      res.statusCode = 404;
      res.end();
    });
    expect(
      (await send(urlOf(plain, '/status/status.json'))).json<StatusSnapshot>().upstreams,
    ).toHaveLength(2);
    expect((await send(urlOf(plain, '/status'))).headers['content-type']).toMatch(/^text\/html/);
    const put = await send(urlOf(plain, '/status'), { method: 'PUT' });
    expect([put.status, put.headers.allow]).toEqual([405, 'GET, HEAD']);

    const koa = new Koa();
    koa.use((ctx, next) => {
      if (!ctx.path.startsWith('/status')) return next();
      ctx.respond = false; // the page writes ctx.res itself
      page(ctx.req, ctx.res);
      return Promise.resolve();
    });
    const handleKoa = koa.callback();
    const koaServer = await serveApp((req, res) => void handleKoa(req, res));
    const reply = await send(urlOf(koaServer, '/status/status.json'));
    expect(reply.status).toBe(200);
    expect(reply.json<StatusSnapshot>().upstreams.map((u) => u.id)).toEqual(['ok', 'fails']);
  });

  test('bad options are rejected with the option named', async () => {
    const { lb } = await pool();
    expect(() => lb.statusPage({ bucketMs: 10 })).toThrow(OptionsError);
    expect(() => lb.statusPage({ bucketMs: 10 })).toThrow(/statusPage\.bucketMs|bucketMs/);
    expect(() => lb.statusPage({ historyMs: 1000, bucketMs: 1000 })).toThrow(/historyMs/);
    expect(() => lb.statusPage({ showUrl: true } as never)).toThrow(/showUrl/);
    expect(() => lb.statusPage({ title: 42 } as never)).toThrow(/title/);
  });
});
