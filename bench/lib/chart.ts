// A self-contained SVG of horizontal bar charts, drawn from the numbers (no browser, no fonts to
// install): one panel per metric, stacked, each bar labelled with its value.

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Highlight (this package's own contenders). */
  readonly ours?: boolean;
  /** Text after the value, e.g. "0.92× (2)". */
  readonly note?: string;
}

export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly bars: readonly Bar[];
  /** Draw on a log scale (latencies spanning 1–100 ms). */
  readonly log?: boolean;
  /** Decimals of the value labels. */
  readonly decimals?: number;
}

const WIDTH = 900;
const LABEL_W = 330;
const BAR_H = 18;
const GAP = 6;
const PANEL_HEAD = 46;
const PANEL_FOOT = 18;
const VALUE_W = 170;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function format(value: number, decimals: number): string {
  return value.toLocaleString('en-US', {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

function panelSvg(panel: Panel, top: number): { svg: string; height: number } {
  const bars = panel.bars.filter((b) => Number.isFinite(b.value) && b.value > 0);
  const plotW = WIDTH - LABEL_W - VALUE_W - 20;
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const min = Math.min(...bars.map((b) => b.value));
  const logLo = Math.log10(Math.max(min / 2, 0.1));
  const logHi = Math.log10(max);
  const scale = (v: number): number =>
    panel.log
      ? Math.max(2, ((Math.log10(v) - logLo) / Math.max(logHi - logLo, 1e-9)) * plotW)
      : Math.max(2, (v / max) * plotW);
  const parts: string[] = [
    `<text x="16" y="${top + 24}" class="title">${escape(panel.title)}</text>`,
    `<text x="16" y="${top + 40}" class="sub">${escape(panel.unit)}${panel.log ? ' (log scale)' : ''}</text>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + PANEL_HEAD + i * (BAR_H + GAP);
    const w = scale(bar.value);
    const value = format(bar.value, panel.decimals ?? 0) + (bar.note ? `  ${bar.note}` : '');
    parts.push(
      `<text x="${LABEL_W - 8}" y="${y + BAR_H - 5}" class="label" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" rx="2" class="${bar.ours ? 'ours' : 'other'}"/>`,
      `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + BAR_H - 5}" class="value">${escape(value)}</text>`,
    );
  });
  return {
    svg: parts.join('\n'),
    height: PANEL_HEAD + bars.length * (BAR_H + GAP) + PANEL_FOOT,
  };
}

/** The panels stacked into one SVG document, with a caption line at the bottom. */
export function barChartSvg(panels: readonly Panel[], caption: string): string {
  let top = 0;
  const bodies: string[] = [];
  for (const panel of panels) {
    const { svg, height } = panelSvg(panel, top);
    bodies.push(svg);
    top += height;
  }
  const height = top + 28;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 15px; font-weight: bold; fill: #222; }
  .sub { font-size: 11px; fill: #666; }
  .label { font-size: 12px; fill: #333; }
  .value { font-size: 11px; fill: #333; }
  .ours { fill: #2f6fb3; }
  .other { fill: #a9b4c0; }
  .caption { font-size: 10px; fill: #777; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${bodies.join('\n')}
<text x="16" y="${height - 10}" class="caption">${escape(caption)}</text>
</svg>
`;
}
