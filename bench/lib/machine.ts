// What the numbers were measured on: cores, CPU model, Node, library versions, date.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HAS_TASKSET } from './proc';
import { nginxVersion } from './nginx';

export interface MachineInfo {
  readonly date: string;
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly taskset: boolean;
  readonly nginx: string | undefined;
  readonly versions: Record<string, string>;
}

function packageVersion(name: string): string {
  try {
    const file = path.join(process.cwd(), 'node_modules', name, 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'absent';
  }
}

export function machineInfo(): MachineInfo {
  const nproc = Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || os.cpus().length;
  return {
    date: new Date().toISOString(),
    nproc,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    taskset: HAS_TASKSET,
    nginx: nginxVersion(),
    versions: Object.fromEntries(
      [
        'http-proxy',
        'http-proxy-middleware',
        'httpxy',
        'undici',
        'express',
        'autocannon',
        'tinybench',
      ].map((name) => [name, packageVersion(name)]),
    ),
  };
}
