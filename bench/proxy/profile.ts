// Where a proxy's time goes: runs contenders under `node --cpu-prof` with the same placement and
// load as the cost benchmark (warm-up, then a timed stretch at one connection count), stops them
// cleanly so V8 writes the profile, and summarises it (lib/profile.ts).

import fs from 'node:fs';
import path from 'node:path';
import { CPU, Worker } from '../lib/proc';
import { newestProfile, summarizeProfile, type ProfileSummary } from '../lib/profile';
import type { UpstreamsReady, UpstreamsSpec } from '../lib/upstreams';
import { COST_CONTENDERS, startCostContender } from './index';
import type { LoadResult, LoadRun } from './loader';

export interface ProfileResult {
  readonly key: string;
  readonly label: string;
  readonly load: LoadResult;
  readonly summary: ProfileSummary;
  /** Where the .cpuprofile was kept. */
  readonly file: string;
}

export async function profileContenders(
  keys: readonly string[],
  settings: { connections: number; warmupSeconds: number; seconds: number; dir: string },
): Promise<ProfileResult[]> {
  const upstreams = await Worker.start<UpstreamsReady>(
    'lib/upstreams.js',
    { delays: [0, 0, 0] } satisfies UpstreamsSpec,
    { cpu: CPU.upstreams },
  );
  const loader = await Worker.start('proxy/loader.js', {}, { cpu: CPU.load });
  const { ports } = await upstreams.ready;
  const results: ProfileResult[] = [];
  try {
    for (const key of keys) {
      const contender = COST_CONTENDERS.find((c) => c.key === key);
      if (!contender?.spec) throw new Error(`cannot profile ${key}`);
      const dir = path.join(settings.dir, key);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      const running = await startCostContender(contender, ports, [
        '--cpu-prof',
        '--cpu-prof-dir',
        dir,
      ]);
      let load: LoadResult;
      try {
        const run = (seconds: number): Promise<LoadResult> =>
          loader.call<LoadResult>('run', {
            url: running.url,
            connections: settings.connections,
            seconds,
          } satisfies LoadRun);
        await run(settings.warmupSeconds);
        load = await run(settings.seconds);
      } finally {
        await running.stop();
      }
      const file = newestProfile(dir);
      if (!file) throw new Error(`${key}: no profile written in ${dir}`);
      results.push({ key, label: contender.label, load, summary: summarizeProfile(file), file });
    }
  } finally {
    await loader.stop();
    await upstreams.stop();
  }
  return results;
}
