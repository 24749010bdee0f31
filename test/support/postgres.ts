/**
 * Real PostgreSQL servers for tests (no mocks, DESIGN.md §7):
 *  - the embedded server, exactly as the CLI opens it, in a throwaway DATA_DIR;
 *  - Debian's PostgreSQL 15 (the oldest version we support): TEST_PG15_URL when set, otherwise
 *    a throwaway cluster started here. A missing PostgreSQL 15 FAILS the test — it never skips.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { openDatabase, type OpenedDatabase } from '../../db/client.ts';
import { freePort } from '../../local/embedded-postgres.ts';
import { postgresRunAs, type RunAs } from '../../local/postgres-os-user.ts';
import { childEnv } from './child-env.ts';

const execFileAsync = promisify(execFile);

export interface TestPostgres {
  /** 'embedded' or 'postgresql-15' — for test names. */
  name: string;
  /** A fresh, empty database of its own. */
  url: string;
  close(): Promise<void>;
}

/** A temp folder the unprivileged `postgres` user can traverse (mkdtemp makes 0700). */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  await fs.chmod(dir, 0o755);
  return dir;
}

/** The embedded server as the CLI starts it, with DATA_DIR in a temp folder (removed on close). */
export async function startEmbeddedTestPostgres(): Promise<
  TestPostgres & { dataDir: string; opened: OpenedDatabase }
> {
  const dataDir = await makeTempDir('audio-pipeline-pg-');
  const opened = await openDatabase({ dataDir });
  return {
    name: 'embedded',
    url: opened.url,
    dataDir,
    opened,
    async close() {
      await opened.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

const PG15_BIN = process.env.PG15_BIN_DIR ?? '/usr/lib/postgresql/15/bin';

async function serverMajor(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    return Math.floor(Number(rows[0]!.v) / 10000);
  } finally {
    await client.end();
  }
}

/** A database of its own on the given server, so runs never see each other's rows. */
export async function freshDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `audio_pipeline_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

async function runPg(bin: string, args: string[], runAs: RunAs | undefined): Promise<void> {
  try {
    await execFileAsync(path.join(PG15_BIN, bin), args, { ...runAs, env: childEnv({ LC_ALL: 'C' }) });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** PostgreSQL 15: TEST_PG15_URL, or a throwaway cluster from Debian's binaries. */
export async function startPostgres15(): Promise<TestPostgres> {
  const given = process.env.TEST_PG15_URL;
  if (given) {
    const major = await serverMajor(given);
    if (major !== 15) throw new Error(`TEST_PG15_URL points at PostgreSQL ${major}, not 15`);
    const db = await freshDatabase(given);
    return { name: 'postgresql-15', url: db.url, close: () => db.drop() };
  }
  const cluster = await startPostgres15Cluster();
  try {
    const db = await freshDatabase(cluster.serverUrl);
    return { name: 'postgresql-15', url: db.url, close: cluster.close };
  } catch (err) {
    await cluster.close().catch(() => {});
    throw err;
  }
}

export interface Postgres15Cluster {
  /** The `postgres` database of the cluster. */
  serverUrl: string;
  /** pg_ctl stop --mode=fast: every connection is cut, as when the server restarts. */
  stop(): Promise<void>;
  /** pg_ctl start, on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  close(): Promise<void>;
}

/** A throwaway PostgreSQL 15 cluster of this process's own (tests that stop and restart it). */
export async function startPostgres15Cluster(): Promise<Postgres15Cluster> {
  if (!existsSync(path.join(PG15_BIN, 'initdb'))) {
    throw new Error(
      `PostgreSQL 15 not found at ${PG15_BIN} (install postgresql-15, or set TEST_PG15_URL or PG15_BIN_DIR)`,
    );
  }
  const runAs = await postgresRunAs();
  const root = await makeTempDir('audio-pipeline-pg15-');
  const clusterDir = path.join(root, 'cluster');
  await fs.mkdir(clusterDir, { mode: 0o700 });
  if (runAs) {
    await fs.chown(root, runAs.uid, runAs.gid);
    await fs.chown(clusterDir, runAs.uid, runAs.gid);
  }
  // trust on a throwaway cluster that listens on 127.0.0.1 only and lives for one test file.
  await runPg(
    'initdb',
    [`--pgdata=${clusterDir}`, '--username=postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'],
    runAs,
  );
  let port = await freePort();
  const start = () =>
    runPg(
      'pg_ctl',
      [
        'start',
        `--pgdata=${clusterDir}`,
        `--log=${path.join(root, 'server.log')}`,
        '--wait',
        '--timeout=60',
        `--options=-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
      ],
      runAs,
    );
  const stop = () => runPg('pg_ctl', ['stop', `--pgdata=${clusterDir}`, '--mode=fast', '--wait'], runAs);
  const close = async () => {
    await stop().catch(() => {});
    await fs.rm(root, { recursive: true, force: true });
  };
  // PostgreSQL cannot bind port 0 and report the port it got: should another process take the
  // free port before the server binds it, the first start tries again on another one.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      const log = await fs.readFile(path.join(root, 'server.log'), 'utf8').catch(() => '');
      if (attempt === 5 || !/could not bind|Address already in use/i.test(log)) {
        await fs.rm(root, { recursive: true, force: true });
        throw err;
      }
      port = await freePort();
    }
  }
  const serverUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  try {
    const major = await serverMajor(serverUrl);
    if (major !== 15) throw new Error(`${PG15_BIN} runs PostgreSQL ${major}, not 15`);
  } catch (err) {
    await close();
    throw err;
  }
  return { serverUrl, stop, start, close };
}
