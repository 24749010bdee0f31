/**
 * A local Temporal dev server (DESIGN.md §5, TEMPORAL_ADDRESS unset): `temporal server
 * start-dev` with its state in $DATA_DIR/temporal/temporal.sqlite (workflows survive restarts),
 * the Web UI, and the pipeline's search attributes registered. When something already answers
 * as Temporal on the port (another `dev`, a server left by a killed run) it is reused, not
 * fought over; anything else on the port is an error.
 *
 * The server runs in its own process group so that Ctrl-C in a terminal reaches only the CLI,
 * which drains its workers first and then calls stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../workflows/contract.ts';
import { ensureNamespace, namespaceReady as isReady } from '../temporal-client/namespace.ts';
import { ensureTemporalCli } from './temporal-cli.ts';

export { findTemporalCli, ensureTemporalCli } from './temporal-cli.ts';

export interface DevServerOptions {
  /** State goes to <dataDir>/temporal/{temporal.sqlite,server.log}. */
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** The CLI to run (config's TEMPORAL_CLI); default: ensureTemporalCli() (PATH, <repo>/.venv). */
  cli?: string;
  /** Bind address; default 127.0.0.1. */
  ip?: string;
  /** Progress lines (starting, reusing, ready); default none. */
  log?: (line: string) => void;
  /** How long to wait for the server to answer; default 90 s. */
  readyTimeoutMs?: number;
  /** Aborted while waiting for the server: it is stopped and the signal's reason thrown. */
  signal?: AbortSignal;
}

export interface TemporalDevServer {
  /** host:port for Connection.connect / NativeConnection.connect. */
  address: string;
  namespace: string;
  uiUrl: string;
  logFile: string;
  /** true when an already running server was found and is left running by stop(). */
  reused: boolean;
  /** The server's pid when this process started it. */
  pid?: number;
  /** Stops the server if this process started it: SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

export function devServerOptionsFromConfig(config: Config, log?: (line: string) => void): DevServerOptions {
  return {
    dataDir: config.dataDir,
    port: config.temporal.port,
    uiPort: config.temporal.uiPort,
    namespace: config.temporal.namespace,
    cli: config.temporal.cli,
    log,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function somethingListens(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function connect(address: string, timeoutMs: number): Promise<Connection> {
  return Connection.connect({ address, connectTimeout: timeoutMs });
}

/** Answers GetSystemInfo: it is a Temporal frontend. */
async function isTemporal(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await connect(address, 3000);
    await connection.withDeadline(Date.now() + 3000, () => connection!.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => {});
  }
}

/** The server log's last error line (or last line): why it stopped, in one line. */
async function lastLogError(logFile: string): Promise<string> {
  const lines = (await fs.readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim());
  const line =
    [...lines].reverse().find((l) => /error|fatal|panic|in use/i.test(l)) ?? lines.at(-1) ?? '(empty log)';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * 'temporal' when a Temporal server already answers on the port (it will be reused), 'free' when
 * both the port and the UI port are free; anything else is an error naming the setting to change.
 * Cheap: the local stack asks before it starts anything.
 */
export async function checkDevServerPorts(
  options: Pick<DevServerOptions, 'port' | 'uiPort' | 'ip'>,
): Promise<'free' | 'temporal'> {
  const ip = options.ip ?? '127.0.0.1';
  if (await somethingListens(ip, options.port)) {
    if (await isTemporal(`${ip}:${options.port}`)) return 'temporal';
    throw new Error(
      `port ${options.port} on ${ip} is in use by something that is not a Temporal server (set TEMPORAL_PORT)`,
    );
  }
  if (await somethingListens(ip, options.uiPort))
    throw new Error(
      `port ${options.uiPort} on ${ip}, for the Temporal Web UI, is in use (set TEMPORAL_UI_PORT)`,
    );
  return 'free';
}

export async function startTemporalDevServer(options: DevServerOptions): Promise<TemporalDevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const address = `${ip}:${options.port}`;
  const uiUrl = `http://${ip}:${options.uiPort}`;
  const dir = path.join(options.dataDir, 'temporal');
  const logFile = path.join(dir, 'server.log');
  const log = options.log ?? (() => {});

  if ((await checkDevServerPorts(options)) === 'temporal') {
    await ensureNamespace(address, options.namespace, { timeoutMs: options.readyTimeoutMs ?? 90_000 });
    log(`reusing the Temporal server already on ${address}`);
    return { address, namespace: options.namespace, uiUrl, logFile, reused: true, stop: async () => {} };
  }

  const cli = options.cli ?? (await ensureTemporalCli(log));
  await fs.mkdir(dir, { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(dir, 'temporal.sqlite'),
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--ui-disable-news-fetch',
    '--log-level',
    'warn',
    ...Object.entries(PIPELINE_SEARCH_ATTRIBUTES).flatMap(([name, type]) => [
      '--search-attribute',
      `${name}=${type}`,
    ]),
    // "default" always exists; naming it again is redundant.
    ...(options.namespace === 'default' ? [] : ['--namespace', options.namespace]),
  ];
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cli, args, { detached: true, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  log(`starting the Temporal dev server on ${address} (UI ${uiUrl}, log ${logFile})`);

  let stopping: Promise<void> | undefined;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      /* already gone */
    }
  };
  // Safety net for a process that exits without stop() (a forced exit): 'exit' handlers must be
  // synchronous, so there is no waiting for a graceful stop here.
  const onExit = () => {
    if (!exited(child)) killGroup('SIGKILL');
  };
  process.once('exit', onExit);
  const exitedPromise = new Promise<void>((resolve) => {
    if (exited(child)) resolve();
    child.once('exit', () => resolve());
  });

  const stop = () =>
    (stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (exited(child)) return;
      killGroup('SIGTERM');
      const timedOut = await Promise.race([exitedPromise.then(() => false), sleep(10_000).then(() => true)]);
      if (timedOut) {
        killGroup('SIGKILL');
        await exitedPromise;
      }
      log(`stopped the Temporal dev server on ${address}`);
    })());

  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (exited(child)) {
      process.removeListener('exit', onExit);
      throw new Error(
        `the Temporal dev server exited (code ${child.exitCode}) before it was ready: ${await lastLogError(logFile)} (log: ${logFile})`,
      );
    }
    if (options.signal?.aborted) {
      await stop();
      throw options.signal.reason;
    }
    if (await isReady(address, options.namespace)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `the Temporal dev server did not become ready on ${address}: ${await lastLogError(logFile)} (log: ${logFile})`,
      );
    }
    await sleep(250);
  }
  log(`Temporal dev server pid ${child.pid} ready on ${address}, UI ${uiUrl}`);
  return { address, namespace: options.namespace, uiUrl, logFile, reused: false, pid: child.pid, stop };
}
