// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time per function
// (file:line function), the share of samples spent in each package or in our own src/ (inclusive:
// a sample counts for every layer on its stack), and our own functions by inclusive time.

import fs from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}

const sourceMaps = new Map<string, SourceMap | undefined>();

/** The TypeScript line (1-based) of a frame in this package's compiled .run/src, via its map. */
function sourceLine(frame: CallFrame): number | undefined {
  if (!/\/\.run\/src\//.test(frame.url)) return undefined;
  let map = sourceMaps.get(frame.url);
  if (!sourceMaps.has(frame.url)) {
    try {
      const file = frame.url.startsWith('file:') ? fileURLToPath(frame.url) : frame.url;
      map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
    } catch {
      map = undefined;
    }
    sourceMaps.set(frame.url, map);
  }
  const entry: { originalLine?: number } | undefined = map?.findEntry(
    frame.lineNumber,
    frame.columnNumber,
  );
  return entry?.originalLine === undefined ? undefined : entry.originalLine + 1;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
}

export interface ProfileLine {
  readonly name: string;
  /** Percent of all samples. */
  readonly percent: number;
}

export interface ProfileSummary {
  /** Samples counted: from the first HTTP request the process served (start-up left out). */
  readonly samples: number;
  /** Samples before the first request (module loading, start-up), left out. */
  readonly startupSamples: number;
  /** Percent of samples where the process was idle (waiting for I/O). */
  readonly idlePercent: number;
  /** Self time, the top functions. */
  readonly topSelf: ProfileLine[];
  /** Inclusive time per layer (src/ of this package, http-proxy, express, node internals, GC…). */
  readonly layers: ProfileLine[];
  /** Inclusive time of this package's own functions (src/), the top ones. */
  readonly ownInclusive: ProfileLine[];
}

/** `file:///…/.run/src/proxy/forward.js` → `src/proxy/forward.ts`; packages by name. */
function fileOf(url: string): string {
  if (url === '') return '';
  const clean = url.replace(/^file:\/\//, '');
  const own = /\/\.run\/(src\/.+)\.js$/.exec(clean);
  if (own) return `${own[1]}.ts`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(clean);
  if (pkg) return `${pkg[1]}/${pkg[2]}`;
  if (clean.startsWith('node:')) return clean;
  return path.basename(clean);
}

function layerOf(frame: CallFrame): string | undefined {
  const url = frame.url;
  if (frame.functionName === '(garbage collector)') return 'GC';
  if (url === '') return undefined;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  if (/\/\.run\/src\//.test(url)) return 'loadbalance-middleware (src/)';
  if (url.startsWith('node:')) return 'node internals';
  return undefined;
}

function label(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  const file = fileOf(frame.url);
  const line = sourceLine(frame) ?? frame.lineNumber + 1;
  return file === '' ? name : `${file}:${line} ${name}`;
}

export function summarizeProfile(file: string, top = 12): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Leave out start-up (module loading, compiling): count from the first sample taken while the
  // process was serving an HTTP request.
  const serving = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (byId.get(at)!.callFrame.functionName === 'parserOnIncoming') return true;
    }
    return false;
  };
  let first = profile.samples.findIndex(serving);
  if (first < 0) first = 0;
  const samples = profile.samples.slice(first);
  const total = samples.length;
  const self = new Map<string, number>();
  const layers = new Map<string, number>();
  const own = new Map<string, number>();
  let idle = 0;
  for (const id of samples) {
    const node = byId.get(id);
    if (!node) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle++;
      continue;
    }
    const key = label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + 1);
    const seenLayers = new Set<string>();
    const seenOwn = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const layer = layerOf(frame);
      if (layer) seenLayers.add(layer);
      if (layer === 'loadbalance-middleware (src/)') seenOwn.add(label(frame));
    }
    if (seenLayers.size === 0) seenLayers.add('other (native, program)');
    for (const layer of seenLayers) layers.set(layer, (layers.get(layer) ?? 0) + 1);
    for (const fn of seenOwn) own.set(fn, (own.get(fn) ?? 0) + 1);
  }
  const lines = (counts: Map<string, number>, n: number): ProfileLine[] =>
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, count]) => ({ name, percent: (100 * count) / total }));
  return {
    samples: total,
    startupSamples: first,
    idlePercent: (100 * idle) / total,
    topSelf: lines(self, top),
    layers: lines(layers, 20),
    ownInclusive: lines(own, top),
  };
}

/** The newest .cpuprofile in `dir`. */
export function newestProfile(dir: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files[0];
}
