/**
 * A production Temporal server's databases (deploy/temporal/): `temporal` and
 * `temporal_visibility` on a PostgreSQL 15+ server, created and migrated with the server's own
 * schema tool (temporal-sql-tool, built by deploy/temporal/build.sh beside the schema files), and
 * the environment file the server's configuration (deploy/temporal/temporal-server.yaml) reads.
 *
 * The password never reaches an argv or a log: the schema tool gets it as SQL_PASSWORD in its
 * environment, the server from the environment file, written with mode 0600.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { replaceAtomically } from '../lib/atomic-file.ts';
import { inheritedEnv } from '../lib/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { REPO_ROOT } from './temporal-cli.ts';

const execFileAsync = promisify(execFile);

export const DEPLOY_DIR = path.join(REPO_ROOT, 'deploy', 'temporal');

/** deploy/temporal/versions.env: the server and UI versions build.sh builds. */
export function pinnedVersions(): { server: string; ui: string } {
  const text = readFileSync(path.join(DEPLOY_DIR, 'versions.env'), 'utf8');
  const value = (name: string) => {
    const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`${DEPLOY_DIR}/versions.env: no ${name}`);
    return m[1]!;
  };
  return { server: value('TEMPORAL_SERVER_VERSION'), ui: value('TEMPORAL_UI_VERSION') };
}

/** TEMPORAL_SERVER_HOME, or where build.sh puts the pinned version by default. */
export function temporalServerHome(configured?: string): string {
  return (
    configured ??
    path.join(os.homedir(), '.cache', 'audio-pipeline', 'temporal-server', pinnedVersions().server)
  );
}

/** The server's binaries in `home`; missing ones are an error saying how to build them. */
export function serverBinaries(home: string): { server: string; sqlTool: string; uiServer: string } {
  const bin = (name: string) => path.join(home, 'bin', name);
  const found = {
    server: bin('temporal-server'),
    sqlTool: bin('temporal-sql-tool'),
    uiServer: bin('temporal-ui-server'),
  };
  for (const file of Object.values(found))
    if (!existsSync(file))
      throw new ConfigError(
        `TEMPORAL_SERVER_HOME=${home}: ${path.basename(file)} is missing; build it with deploy/temporal/build.sh`,
      );
  return found;
}

export interface ServerDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** postgres://user:password@host:port[/…] — the server the two databases live on. */
export function parseServerDatabaseUrl(url: string): ServerDatabase {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('--database-url: not a URL (postgres://user:password@host:5432)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new ConfigError(`--database-url: ${u.protocol}// is not postgres://`);
  if (!u.username) throw new ConfigError('--database-url: names no user');
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  };
}

export interface SetupOptions {
  home: string;
  db: ServerDatabase;
  /** Default `temporal` and `temporal_visibility`. */
  databases: { main: string; visibility: string };
  log: (line: string) => void;
}

/**
 * Creates both databases when missing and migrates them to the schema of the server in `home`
 * (schema/postgresql/v12/{temporal,visibility}/versioned). Safe to run again: an existing
 * database is kept and only newer schema versions are applied — what an upgrade of the server
 * needs before its binary is replaced.
 */
export async function setupTemporalDatabases(options: SetupOptions): Promise<void> {
  const { sqlTool } = serverBinaries(options.home);
  const { db } = options;
  const env = inheritedEnv({ SQL_PASSWORD: db.password });
  const tool = async (database: string, args: string[]) => {
    const argv = ['--plugin', 'postgres12', '--ep', db.host, '--port', String(db.port), '--user', db.user];
    try {
      const { stdout, stderr } = await execFileAsync(sqlTool, [...argv, '--db', database, ...args], {
        env,
        timeout: 5 * 60_000,
      });
      return stdout + stderr;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      const said = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || e.message;
      throw new Error(`temporal-sql-tool ${args[0]} on ${database}: ${lastLines(said)}`);
    }
  };
  for (const [kind, database] of [
    ['temporal', options.databases.main],
    ['visibility', options.databases.visibility],
  ] as const) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database))
      throw new ConfigError(`database name ${JSON.stringify(database)}: lowercase letters, digits, _`);
    const created = await tool(database, ['create-database']).then(
      () => true,
      (err: Error) => {
        if (/already exists/.test(err.message)) return false;
        throw err;
      },
    );
    options.log(`${database}: ${created ? 'created' : 'exists'}`);
    // setup-schema -v 0.0 only creates the version table (a no-op on one that exists).
    await tool(database, ['setup-schema', '-v', '0.0']).catch((err: Error) => {
      if (!/already exists/.test(err.message)) throw err;
    });
    const versioned = path.join(options.home, 'schema', 'postgresql', 'v12', kind, 'versioned');
    await tool(database, ['update-schema', '-d', versioned]);
    options.log(`${database}: schema up to date (${versioned})`);
  }
}

export interface ServerSettings {
  db: ServerDatabase;
  databases: { main: string; visibility: string };
  /** Address every service binds (TEMPORAL_BIND_IP); default 127.0.0.1. */
  bindIp: string;
  /** The frontend's gRPC port; the other services use the next ones (+1 … +7, +10). */
  port: number;
  historyShards: number;
  metricsPort: number;
  dynamicConfig: string;
}

/** KEY=value lines for systemd's EnvironmentFile= and deploy/temporal/temporal-server.yaml. */
export function serverEnvironment(s: ServerSettings): Record<string, string> {
  return {
    TEMPORAL_DB_HOST: s.db.host,
    TEMPORAL_DB_PORT: String(s.db.port),
    TEMPORAL_DB_USER: s.db.user,
    TEMPORAL_DB_PASSWORD: s.db.password,
    TEMPORAL_DB_NAME: s.databases.main,
    TEMPORAL_VISIBILITY_DB_NAME: s.databases.visibility,
    TEMPORAL_BIND_IP: s.bindIp,
    TEMPORAL_FRONTEND_PORT: String(s.port),
    TEMPORAL_HISTORY_SHARDS: String(s.historyShards),
    TEMPORAL_METRICS_PORT: String(s.metricsPort),
    TEMPORAL_DYNAMIC_CONFIG: s.dynamicConfig,
  };
}

/** Writes the environment file with mode 0600 from the start (never readable by others). */
export async function writeEnvironmentFile(file: string, vars: Record<string, string>): Promise<void> {
  // systemd and sh read such a value the same way without any quoting.
  for (const [name, value] of Object.entries(vars))
    if (!/^[^\s'"\\$`#;]*$/.test(value))
      throw new ConfigError(
        `${name}: ${file} takes no spaces, quotes, \\, $, \`, # or ; in a value (change the password)`,
      );
  const text =
    "# Written by `audio-pipeline temporal setup`: the Temporal server's settings, password included.\n" +
    Object.entries(vars)
      .map(([name, value]) => `${name}=${value}`)
      .join('\n') +
    '\n';
  await replaceAtomically(file, async (tmp) => {
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, 0o600);
  });
}

/** Reads a file writeEnvironmentFile wrote (for starting the server outside systemd). */
export function readEnvironmentFile(file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    vars[m[1]!] = m[2]!;
  }
  return vars;
}

function lastLines(text: string, n = 5): string {
  return text.split('\n').slice(-n).join(' | ');
}
