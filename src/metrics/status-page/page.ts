// Owns the status page's HTML document: markup, inline stylesheet and script, and the
// Content-Security-Policy that allows exactly those two inline blocks (by hash) and fetches to
// the page's own origin. Must not: put data into the HTML (the script fetches it as JSON), load
// anything external, or emit a user string without escapeHtml().

import { createHash } from 'node:crypto';
import { CLIENT_SCRIPT } from './client-script';

const STYLES = `
:root {
  --bg: #f5f6f8; --card: #fff; --text: #1f2328; --muted: #636c76; --border: #e2e5e9;
  --line: #eef0f3; --ok: #1a7f37; --bad: #c62828; --warn: #9a6700;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { background: var(--card); border-bottom: 1px solid var(--border); }
header .inner, main, footer { max-width: 1280px; margin: 0 auto; padding-left: 28px; padding-right: 28px; }
header .inner { display: flex; align-items: center; justify-content: space-between; gap: 16px; padding-top: 16px; padding-bottom: 16px; }
h1 { margin: 0; font-size: 19px; font-weight: 650; letter-spacing: -0.01em; overflow-wrap: anywhere; }
.sub { color: var(--muted); font-size: 12px; margin-top: 2px; }
.live { display: flex; align-items: center; gap: 8px; color: var(--muted); font-size: 12px; white-space: nowrap; }
.live .dot { width: 8px; height: 8px; border-radius: 50%; background: #2da44e; box-shadow: 0 0 0 3px #2da44e22; }
.live.stale .dot { background: var(--bad); box-shadow: 0 0 0 3px #c6282822; }
.live.stale { color: var(--bad); }
main { padding-top: 20px; padding-bottom: 12px; }
.kpis { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 12px; }
.card, .kpi { background: var(--card); border: 1px solid var(--border); border-radius: 10px; }
.kpi { padding: 12px 14px; }
.kpi .label { color: var(--muted); font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.05em; }
.kpi .value { font-size: 22px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.value.bad, td.bad { color: var(--bad); }
.value.warn { color: var(--warn); }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px; margin-top: 12px; }
.card { padding: 14px 16px; }
.card h2 { margin: 0 0 6px; font-size: 13px; font-weight: 600; }
.card h2 small { color: var(--muted); font-weight: 400; margin-left: 6px; }
svg.chart { display: block; width: 100%; height: 190px; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { stroke: var(--border); stroke-width: 1; }
svg .tick { fill: var(--muted); font-size: 11px; font-variant-numeric: tabular-nums; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 10px 2px 0; color: var(--muted); font-size: 12px; }
.legend .item { display: inline-flex; align-items: center; gap: 6px; overflow-wrap: anywhere; }
.swatch { display: inline-block; flex: none; width: 10px; height: 10px; border-radius: 3px; }
.table-card { margin-top: 12px; padding: 4px 0 0; overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; color: var(--muted); font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.05em; padding: 10px 12px; border-bottom: 1px solid var(--border); white-space: nowrap; }
td { padding: 10px 12px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tbody tr:last-child td { border-bottom: 0; }
th.num, td.num { text-align: right; }
td.upstream { min-width: 180px; }
td.upstream .cell { display: flex; align-items: center; gap: 10px; }
.name { display: flex; flex-direction: column; min-width: 0; }
.name .id { font-weight: 600; overflow-wrap: anywhere; }
.name .url { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.name .url:empty { display: none; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; margin-right: 4px; }
.badge.healthy { background: #dafbe1; color: #116329; }
.badge.unhealthy { background: #ffebe9; color: #a40e26; }
.badge.unknown { background: #eaeef2; color: #57606a; }
.badge.ejected { background: #fff4d4; color: #7d4e00; }
td.share { min-width: 150px; white-space: nowrap; }
.bar { display: inline-block; vertical-align: middle; width: 90px; height: 6px; border-radius: 3px; background: var(--line); overflow: hidden; margin-right: 8px; }
.bar i { display: block; height: 100%; width: 0; border-radius: 3px; }
.pct { display: inline-block; min-width: 36px; text-align: right; color: var(--muted); }
svg.spark { display: block; width: 140px; height: 30px; overflow: visible; }
.empty { color: var(--muted); padding: 18px 16px; }
footer { color: var(--muted); font-size: 12px; padding-top: 4px; padding-bottom: 24px; }
@media (max-width: 900px) {
  .kpis { grid-template-columns: repeat(3, minmax(0, 1fr)); }
  .charts { grid-template-columns: minmax(0, 1fr); }
}
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The page's Content-Security-Policy: its own inline blocks, fetches to its origin, nothing else. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(CLIENT_SCRIPT)}`,
  `style-src ${sha256(STYLES)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text → HTML text or attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function kpi(id: string, label: string): string {
  return `<div class="kpi"><div class="label">${label}</div><div class="value" id="${id}">—</div></div>`;
}

/** The whole document for a page titled `title` (escaped here). */
export function renderPage(title: string, historyMs: number): string {
  const t = escapeHtml(title);
  const minutes = historyMs % 60_000 === 0 ? `${historyMs / 60_000} min` : `${historyMs / 1000} s`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>${t} · status</title>
<link rel="icon" href="data:,">
<style>${STYLES}</style>
</head>
<body>
<header><div class="inner">
  <div><h1>${t}</h1><div class="sub">loadbalance-middleware · upstream status</div></div>
  <div id="live" class="live"><span class="dot"></span><span id="updated">connecting…</span></div>
</div></header>
<main>
  <section class="kpis">
    ${kpi('k-rps', 'Requests / s')}
    ${kpi('k-total', 'Requests')}
    ${kpi('k-failed', 'Balancer 5xx')}
    ${kpi('k-latency', 'Mean latency')}
    ${kpi('k-inflight', 'In flight')}
    ${kpi('k-routable', 'Routable')}
  </section>
  <section class="charts">
    <div class="card"><h2>Requests per second <small>attempts per upstream</small></h2>
      <svg id="chart-rps" class="chart" role="img" aria-label="Requests per second per upstream"></svg></div>
    <div class="card"><h2>Latency <small>mean time to response headers</small></h2>
      <svg id="chart-latency" class="chart" role="img" aria-label="Mean latency per upstream"></svg></div>
  </section>
  <div id="legend" class="legend"></div>
  <section class="card table-card">
    <table>
      <thead><tr>
        <th>Upstream</th><th>Health</th><th class="num">Weight</th><th class="num">In flight</th>
        <th>Share, last min</th><th class="num">Requests</th><th class="num">Failed</th>
        <th class="num">Mean latency</th><th>Latency, last ${minutes}</th>
      </tr></thead>
      <tbody id="rows"></tbody>
    </table>
    <div id="empty" class="empty" hidden>No upstreams in the pool.</div>
    <noscript><div class="empty">This page draws itself with JavaScript; status.json has the same data.</div></noscript>
  </section>
</main>
<footer>Refreshed every second from status.json. Requests and failures count attempts, retries included; latency is time to response headers.</footer>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
}
