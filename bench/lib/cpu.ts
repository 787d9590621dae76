// CPU time a process (and its children, for nginx's workers) has used, from /proc (Linux). On a
// shared machine a proxy's CPU time per request is steadier than its requests per second: it
// does not count the time the proxy waited for a core that other work held.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const TICKS_PER_SECOND = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

function children(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((tid) =>
        fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/),
      )
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

function ownSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime + stime
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of `pid` and its live children; undefined without /proc. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const own = ownSeconds(pid);
  if (own === undefined) return undefined;
  return children(pid).reduce((sum, child) => sum + (ownSeconds(child) ?? 0), own);
}
