/**
 * What every benchmark records besides its numbers: the machine, the versions, the inputs, and
 * every repetition (bench/results/<name>.json), plus a plain table on stdout.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

/** Versions of what the numbers depend on; a tool that is missing is recorded as such. */
export function versions(extra: Record<string, () => string> = {}): Record<string, string> {
  const pkg = (name: string) => {
    try {
      return (
        JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    } catch {
      return 'not installed';
    }
  };
  const out: Record<string, string> = {
    node: process.version,
    'audio-pipeline': pkg('..'),
    pg: pkg('pg'),
    'drizzle-orm': pkg('drizzle-orm'),
    '@temporalio/worker': pkg('@temporalio/worker'),
    'onnxruntime-node': pkg('onnxruntime-node'),
  };
  for (const [name, get] of Object.entries(extra)) {
    try {
      out[name] = get();
    } catch (err) {
      out[name] = `unknown (${(err as Error).message.split('\n')[0]})`;
    }
  }
  return out;
}

/** HEAD's short hash, with `-dirty` when tracked files differ from it (the run measured other code). */
export function gitCommit(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

export function machine() {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: `${os.platform()} ${os.release()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export interface BenchResult {
  bench: string;
  quick: boolean;
  startedAt: string;
  finishedAt?: string;
  commit: string;
  machine: ReturnType<typeof machine>;
  versions: Record<string, string>;
  inputs: Record<string, unknown>;
  /** Every repetition of every measurement. */
  repetitions: unknown[];
  /** The headline figures (medians, percentiles, ratios) and their goals. */
  summary: Record<string, unknown>;
}

export function startResult(
  bench: string,
  quick: boolean,
  inputs: Record<string, unknown>,
  extraVersions = {},
): BenchResult {
  return {
    bench,
    quick,
    startedAt: new Date().toISOString(),
    commit: gitCommit(),
    machine: machine(),
    versions: versions(extraVersions),
    inputs,
    repetitions: [],
    summary: {},
  };
}

/** Writes bench/results/<name>.json (or <name>-quick.json), or `file` when given; returns its path. */
export function writeResult(result: BenchResult, file?: string): string {
  result.finishedAt = new Date().toISOString();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = file ?? path.join(RESULTS_DIR, `${result.bench}${result.quick ? '-quick' : ''}.json`);
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  return out;
}

/** A Markdown table (it reads as a plain table on a terminal too). */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(cells[0]!),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...cells.slice(1).map(line),
  ].join('\n');
}

export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const abs = Math.abs(x);
  return x.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
}

export const quickFlag = (argv: readonly string[]) => argv.includes('--quick');

/** `--name value` from argv, or the default. */
export function option(argv: readonly string[], name: string, dflt: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
}
