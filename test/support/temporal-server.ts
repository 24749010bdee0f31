/**
 * The production Temporal server (deploy/temporal/) for tests and benchmarks: binaries from
 * deploy/temporal/build.sh (cached per machine; .ci/run builds them first), databases of its
 * own on a PostgreSQL 15 server, set up by `audio-pipeline temporal setup` as an operator would,
 * started with deploy/temporal/temporal-server.yaml and the environment file setup wrote, on
 * free ports. It can be stopped and started again on the same databases (a server restart).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { DEPLOY_DIR, readEnvironmentFile } from '../../local/temporal-server-setup.ts';
import { runCli, type CliResult } from './cli.ts';
import { childEnv } from './child-env.ts';
import { freeLowPorts } from './ports.ts';

const execFileAsync = promisify(execFile);

/** deploy/temporal/build.sh: the binaries' folder (a build the first time on a machine). */
export async function buildTemporalServer(): Promise<string> {
  const { stdout } = await execFileAsync('bash', [path.join(DEPLOY_DIR, 'build.sh')], {
    timeout: 20 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout.trim().split('\n').pop()!;
}

export interface RealTemporalServer {
  address: string;
  namespace: string;
  home: string;
  settingsFile: string;
  /** What `temporal setup` printed (checked for secrets). */
  setup: CliResult;
  pid(): number | undefined;
  start(): Promise<void>;
  /** SIGTERM, SIGKILL after 30 s. */
  stop(): Promise<void>;
  log(): string;
  /** Stops it and drops its databases. */
  close(): Promise<void>;
}

export async function startRealTemporalServer(options: {
  /** A PostgreSQL server's `postgres` database URL (a user that may CREATE DATABASE). */
  serverUrl: string;
  dataDir: string;
  namespace: string;
}): Promise<RealTemporalServer> {
  const home = await buildTemporalServer();
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const databases = { main: `temporal_t${suffix}`, visibility: `temporal_vis_t${suffix}` };
  // Membership ports go into a smallint column: below 32768, unlike the kernel's free ports.
  const [port, fm, http, h, hm, m, mm, w, wm, metrics] = await freeLowPorts(10);
  const urlFile = path.join(options.dataDir, 'temporal-db-url');
  await writeFile(urlFile, options.serverUrl, { mode: 0o600 });
  const settingsFile = path.join(options.dataDir, 'temporal-server.env');
  const setup = await runCli(
    childEnv({ DATA_DIR: options.dataDir, TEMPORAL_SERVER_HOME: home }),
    [
      'temporal',
      'setup',
      '--database-url-file',
      urlFile,
      '--settings-file',
      settingsFile,
      '--database',
      databases.main,
      '--visibility-database',
      databases.visibility,
      '--port',
      String(port),
      '--metrics-port',
      String(metrics),
      '--history-shards',
      '4',
    ],
    5 * 60_000,
  );
  if (setup.code !== 0) throw new Error(`temporal setup exited ${setup.code}:\n${setup.stderr}`);
  const address = `127.0.0.1:${port}`;
  const logFile = path.join(options.dataDir, 'temporal-server.log');
  const env = childEnv({
    ...readEnvironmentFile(settingsFile),
    TEMPORAL_FRONTEND_MEMBERSHIP_PORT: String(fm),
    TEMPORAL_FRONTEND_HTTP_PORT: String(http),
    TEMPORAL_HISTORY_PORT: String(h),
    TEMPORAL_HISTORY_MEMBERSHIP_PORT: String(hm),
    TEMPORAL_MATCHING_PORT: String(m),
    TEMPORAL_MATCHING_MEMBERSHIP_PORT: String(mm),
    TEMPORAL_WORKER_PORT: String(w),
    TEMPORAL_WORKER_MEMBERSHIP_PORT: String(wm),
  });
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const out = openSync(logFile, 'a');
    try {
      child = spawn(
        path.join(home, 'bin', 'temporal-server'),
        ['--config-file', path.join(DEPLOY_DIR, 'temporal-server.yaml'), '--allow-no-auth', 'start'],
        { env, stdio: ['ignore', out, out] },
      );
    } finally {
      closeSync(out);
    }
    const c = child;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    // Ready when the namespace and search attributes answer (registered the first time).
    const registering = runCli(
      childEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: options.namespace }),
      ['temporal', 'namespace', '--wait', '120', '--retention-days', '1'],
      150_000,
    );
    const ns = await Promise.race([registering, exited.then(() => null)]);
    if (ns === null) throw new Error(`the Temporal server exited before it was ready:\n${tail(logFile)}`);
    if (ns.code !== 0)
      throw new Error(`temporal namespace exited ${ns.code}:\n${ns.stderr}\n${tail(logFile)}`);
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  const close = async () => {
    await stop();
    const admin = new pg.Client({ connectionString: options.serverUrl });
    await admin.connect();
    try {
      for (const name of Object.values(databases))
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  };
  try {
    await start();
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
  return {
    address,
    namespace: options.namespace,
    home,
    settingsFile,
    setup,
    pid: () => child?.pid,
    start,
    stop,
    log: () => tail(logFile),
    close,
  };
}

function tail(file: string, n = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}
