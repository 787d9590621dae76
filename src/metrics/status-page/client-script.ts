// Owns the status page's browser script, as a string served inline (its CSP hash is computed
// from this exact text). It fetches `status.json` next to the page every second and renders with
// textContent and DOM/SVG APIs only. Must not: use innerHTML or any other HTML parsing of data,
// set style attributes (the CSP forbids them; element.style is fine), or load anything external.

export const CLIENT_SCRIPT = String.raw`(() => {
  'use strict';
  const REFRESH_MS = 1000;
  const PALETTE = ['#2563eb', '#ea580c', '#059669', '#9333ea', '#db2777', '#0891b2', '#ca8a04', '#4f46e5', '#65a30d', '#dc2626'];
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const path = location.pathname;
  const jsonUrl = (path.endsWith('/') ? path : path + '/') + 'status.json';
  const colors = new Map();
  const rows = new Map();
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const key of Object.keys(attrs)) e.setAttribute(key, String(attrs[key]));
    return e;
  }
  function colorOf(id) {
    if (!colors.has(id)) colors.set(id, PALETTE[colors.size % PALETTE.length]);
    return colors.get(id);
  }
  const intFormat = new Intl.NumberFormat('en-US');
  function fmtInt(n) { return intFormat.format(n); }
  function fmtMs(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return '—';
    if (ms < 10) return ms.toFixed(1) + ' ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    return (ms / 1000).toFixed(2) + ' s';
  }
  function fmtRate(r) {
    if (r === 0) return '0';
    if (r < 10) return r.toFixed(1);
    return fmtInt(Math.round(r));
  }
  function fmtAxis(v, unit) {
    if (v === 0) return '0';
    const digits = v < 1 ? 2 : v % 1 ? 1 : 0;
    if (unit === 'ms') return v >= 1000 ? +(v / 1000).toFixed(2) + ' s' : +v.toFixed(digits) + ' ms';
    return fmtInt(+v.toFixed(digits));
  }
  function fmtAgo(ms) {
    const s = Math.round(ms / 1000);
    if (s < 120) return '−' + s + ' s';
    const m = s / 60;
    return '−' + (Number.isInteger(m) ? m : m.toFixed(1)) + ' min';
  }
  // A "nice" step (1, 2, 2.5 or 5 × 10^k) so that 4 steps cover v.
  function niceStep(v) {
    if (!(v > 0)) return 0.25;
    const raw = v / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
  }
  function niceMax(v) { return niceStep(v) * 4; }

  // A line per series over the window; gaps (null) break the line.
  function drawChart(svg, series, opts) {
    const w = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 600);
    const h = Math.max(80, Math.round(svg.getBoundingClientRect().height) || 180);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const left = 52, right = 10, top = 10, bottom = 22;
    const pw = w - left - right, ph = h - top - bottom;
    let n = 0, peak = 0;
    for (const s of series) {
      n = Math.max(n, s.values.length);
      for (const v of s.values) if (v !== null && v > peak) peak = v;
    }
    const max = niceMax(peak);
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      svg.appendChild(svgEl('line', { x1: left, x2: w - right, y1: y, y2: y, class: i === 0 ? 'axis' : 'grid' }));
      const label = svgEl('text', { x: left - 8, y: y + 4, 'text-anchor': 'end', class: 'tick' });
      label.textContent = fmtAxis((max * i) / 4, opts.unit);
      svg.appendChild(label);
    }
    const span = opts.bucketMs * n;
    const ticks = [[0, fmtAgo(span), 'start'], [0.5, fmtAgo(span / 2), 'middle'], [1, 'now', 'end']];
    for (const [f, text, anchor] of ticks) {
      const label = svgEl('text', { x: left + pw * f, y: h - 6, 'text-anchor': anchor, class: 'tick' });
      label.textContent = text;
      svg.appendChild(label);
    }
    const x = (i) => left + (n <= 1 ? pw : (pw * i) / (n - 1));
    const y = (v) => top + ph - (ph * v) / max;
    for (const s of series) {
      let d = '';
      let open = false;
      s.values.forEach((v, i) => {
        if (v === null) { open = false; return; }
        d += (open ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
        const next = s.values[i + 1];
        const prev = i > 0 ? s.values[i - 1] : null;
        if (!open && (next === null || next === undefined) && prev === null) {
          svg.appendChild(svgEl('circle', { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2, fill: s.color }));
        }
        open = true;
      });
      if (d) {
        const line = svgEl('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 1.75, 'stroke-linejoin': 'round', 'stroke-linecap': 'round', class: 'series' });
        if (s.dashed) line.setAttribute('stroke-dasharray', '4 3');
        line.appendChild(svgEl('title', {})).textContent = s.name;
        svg.appendChild(line);
      }
    }
  }

  // A small latency sparkline in a table row, scaled to its own peak.
  function drawSpark(svg, values, color) {
    const w = 140, h = 30;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    let peak = 0;
    for (const v of values) if (v !== null && v > peak) peak = v;
    const max = niceMax(peak);
    const n = values.length;
    const x = (i) => (n <= 1 ? w : (w * i) / (n - 1));
    const y = (v) => h - 2 - ((h - 4) * v) / max;
    let d = '', area = '', open = false, startX = 0, lastX = 0;
    values.forEach((v, i) => {
      if (v === null) {
        if (open) area += 'L' + lastX.toFixed(1) + ' ' + h + 'L' + startX.toFixed(1) + ' ' + h + 'Z';
        open = false;
        return;
      }
      const px = x(i).toFixed(1), py = y(v).toFixed(1);
      if (!open) { startX = x(i); area += 'M' + px + ' ' + h + 'L' + px + ' ' + py; d += 'M' + px + ' ' + py; }
      else { area += 'L' + px + ' ' + py; d += 'L' + px + ' ' + py; }
      lastX = x(i);
      open = true;
    });
    if (open) area += 'L' + lastX.toFixed(1) + ' ' + h + 'L' + startX.toFixed(1) + ' ' + h + 'Z';
    svg.appendChild(svgEl('line', { x1: 0, x2: w, y1: h - 0.5, y2: h - 0.5, class: 'grid' }));
    if (area) svg.appendChild(svgEl('path', { d: area, fill: color, 'fill-opacity': 0.12, stroke: 'none' }));
    if (d) svg.appendChild(svgEl('path', { d, fill: 'none', stroke: color, 'stroke-width': 1.5, 'stroke-linejoin': 'round', class: 'series' }));
    svg.appendChild(svgEl('title', {})).textContent = 'peak ' + fmtMs(peak);
  }

  function badge(text, kind) { return el('span', 'badge ' + kind, text); }

  function makeRow(u) {
    const tr = el('tr');
    tr.setAttribute('data-upstream', u.id);
    const cells = {};
    const name = el('td', 'upstream');
    const cell = el('div', 'cell');
    const swatch = el('span', 'swatch');
    swatch.style.background = colorOf(u.id);
    const box = el('div', 'name');
    cells.id = el('span', 'id', u.id);
    box.appendChild(cells.id);
    cells.url = el('span', 'url');
    box.appendChild(cells.url);
    cell.appendChild(swatch);
    cell.appendChild(box);
    name.appendChild(cell);
    tr.appendChild(name);
    cells.health = el('td', 'health');
    tr.appendChild(cells.health);
    for (const key of ['weight', 'inFlight']) { cells[key] = el('td', 'num ' + key); tr.appendChild(cells[key]); }
    const share = el('td', 'share');
    const bar = el('div', 'bar');
    cells.shareBar = el('i');
    cells.shareBar.style.background = colorOf(u.id);
    bar.appendChild(cells.shareBar);
    cells.share = el('span', 'pct');
    share.appendChild(bar);
    share.appendChild(cells.share);
    tr.appendChild(share);
    for (const key of ['requests', 'failed', 'latency']) { cells[key] = el('td', 'num ' + key); tr.appendChild(cells[key]); }
    const spark = el('td', 'spark');
    cells.spark = svgEl('svg', { viewBox: '0 0 140 30', class: 'spark', role: 'img' });
    spark.appendChild(cells.spark);
    tr.appendChild(spark);
    return { tr, cells };
  }

  function render(data) {
    const bucketS = data.bucketMs / 1000;
    const ups = data.upstreams;
    // KPIs
    let inFlight = 0, routable = 0, recent = 0, recentBuckets = 0;
    for (const u of ups) {
      inFlight += u.inFlight;
      if (u.health !== 'unhealthy' && !u.ejected) routable++;
    }
    const n = ups.length ? ups[0].requests.length : data.answered.length;
    recentBuckets = Math.min(n, Math.max(1, Math.round(10 / bucketS)));
    for (const u of ups) for (let i = n - recentBuckets; i < n; i++) recent += u.requests[i] || 0;
    $('k-rps').textContent = fmtRate(recentBuckets ? recent / (recentBuckets * bucketS) : 0);
    $('k-total').textContent = fmtInt(data.totals.totalRequests);
    $('k-failed').textContent = fmtInt(data.totals.failedRequests);
    $('k-latency').textContent = fmtMs(data.totals.successfulRequests ? data.totals.averageResponseTimeMs : null);
    $('k-inflight').textContent = fmtInt(inFlight);
    $('k-routable').textContent = routable + ' / ' + ups.length;
    $('k-routable').className = 'value' + (routable < ups.length ? (routable === 0 ? ' bad' : ' warn') : '');
    $('k-failed').className = 'value' + (data.totals.failedRequests > 0 ? ' bad' : '');

    // Charts
    const rps = ups.map((u) => ({ name: u.id, color: colorOf(u.id), values: u.requests.map((r) => r / bucketS) }));
    if (data.answered.some((v) => v > 0)) {
      rps.push({ name: 'answered by the balancer (502/503/504)', color: '#b91c1c', dashed: true, values: data.answered.map((r) => r / bucketS) });
    }
    drawChart($('chart-rps'), rps, { unit: '/s', bucketMs: data.bucketMs });
    drawChart($('chart-latency'), ups.map((u) => ({ name: u.id, color: colorOf(u.id), values: u.latencyMs })), { unit: 'ms', bucketMs: data.bucketMs });
    const legend = $('legend');
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    for (const s of rps) {
      const item = el('span', 'item');
      const sw = el('span', 'swatch' + (s.dashed ? ' dashed' : ''));
      sw.style.background = s.color;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    }

    // Rows, updated in place
    const tbody = $('rows');
    const seen = new Set();
    for (const u of ups) {
      seen.add(u.id);
      let row = rows.get(u.id);
      if (!row) { row = makeRow(u); rows.set(u.id, row); }
      tbody.appendChild(row.tr); // keeps the server's order
      const c = row.cells;
      c.url.textContent = u.url || '';
      c.health.textContent = '';
      c.health.appendChild(badge(u.health, u.health));
      if (u.ejected) c.health.appendChild(badge('ejected', 'ejected'));
      c.weight.textContent = fmtInt(u.weight);
      c.inFlight.textContent = fmtInt(u.inFlight);
      c.shareBar.style.width = (u.share * 100).toFixed(1) + '%';
      c.share.textContent = Math.round(u.share * 100) + ' %';
      c.requests.textContent = fmtInt(u.totalRequests);
      c.failed.textContent = fmtInt(u.failedRequests);
      c.failed.className = 'num failed' + (u.failedRequests > 0 ? ' bad' : '');
      c.latency.textContent = fmtMs(u.totalRequests > u.failedRequests ? u.averageResponseTimeMs : null);
      drawSpark(c.spark, u.latencyMs, colorOf(u.id));
    }
    for (const [id, row] of rows) if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    $('empty').hidden = ups.length > 0;
  }

  let timer;
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    clearTimeout(timer);
    try {
      const res = await fetch(jsonUrl, { cache: 'no-store', headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const data = await res.json();
      render(data);
      $('live').className = 'live';
      $('updated').textContent = 'live · updated ' + new Date(data.generatedAt).toLocaleTimeString();
    } catch (e) {
      console.error('status page:', e);
      $('live').className = 'live stale';
      $('updated').textContent = 'cannot reach status.json — retrying';
    }
    busy = false;
    if (!document.hidden) timer = setTimeout(refresh, REFRESH_MS);
  }
  // A hidden tab stops polling and catches up when shown again.
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(timer);
    else refresh();
  });
  refresh();
})();
`;
