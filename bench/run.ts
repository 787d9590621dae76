// `npm run bench`: runs the benchmark parts in order and prints their tables.

import { runStrategyBench } from './strategies';

async function main(): Promise<void> {
  const rows = await runStrategyBench();
  console.log('| strategy | upstreams | ns per pick |');
  console.log('|---|---:|---:|');
  for (const row of rows)
    console.log(`| ${row.strategy} | ${row.upstreams} | ${row.nsPerPick.toFixed(0)} |`);
}

void main();
