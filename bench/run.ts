/**
 * `npm run bench -- <name> [--quick] [options]` runs bench/<name>.ts; `npm run bench -- all
 * [--quick]` (what `make bench` runs) runs every bench in turn. Each bench runs in its own Node
 * process (so that one's memory and handles cannot skew the next), prints its table and writes
 * bench/results/<name>.json. Not part of `make test`: the full set takes the better part of an
 * hour on two cores.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib/report.ts';

export const BENCHES = [
  'convert',
  'store',
  'search',
  'transcribe',
  'orchestration',
  'temporal-server-overhead',
  'memory',
] as const;

/** Benches whose options parser refuses --quick (their defaults are small already). */
const NO_QUICK = new Set(['temporal-server-overhead']);

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  process.stderr.write(`usage: npm run bench -- <${BENCHES.join('|')}|all> [--quick]\n`);
  process.exit(name ? 0 : 2);
}
const names = name === 'all' ? [...BENCHES] : [name];
let failed = 0;
for (const bench of names) {
  const file = path.join(ROOT, 'bench', `${bench}.ts`);
  if (!existsSync(file)) {
    process.stderr.write(`no bench "${bench}" (bench/${bench}.ts); known: ${BENCHES.join(', ')}\n`);
    process.exit(2);
  }
  process.stderr.write(`\n=== bench ${bench} ${rest.join(' ')}\n`);
  const args = NO_QUICK.has(bench) ? rest.filter((a) => a !== '--quick') : rest;
  const run = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (run.status !== 0) {
    failed++;
    process.stderr.write(`bench ${bench} failed (${run.status ?? run.signal})\n`);
  }
}
process.exit(failed ? 1 : 0);
