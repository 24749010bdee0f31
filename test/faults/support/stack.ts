/**
 * The whole pipeline as separate real processes, so that a test can kill or restart any of them:
 * a Temporal dev server with its SQLite file (local/temporal-dev-server.ts, as `dev` starts it), a
 * PostgreSQL 15 cluster of its own, and the CPU and GPU workers as `bin/audio-pipeline.js worker`
 * processes with an explicit environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freePorts } from '../../support/ports.ts';
import { loadConfig } from '../../../lib/config.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../../../local/temporal-dev-server.ts';
import { makeTempDir, startPostgres15Cluster, type Postgres15Cluster } from '../../support/postgres.ts';
import { waitFor } from './processes.ts';

const repo = path.resolve(import.meta.dirname, '../../..');
const CPU_QUEUE = 'faults-cpu';
export const GPU_QUEUE = 'faults-gpu';

export interface WorkerProcess {
  queue: 'cpu' | 'gpu';
  pid: number;
  logFile: string;
  exited: Promise<void>;
  /** SIGKILL, as the OOM killer or a preempted node would; resolves once it is gone. */
  kill(): Promise<void>;
}

export class FaultStack {
  readonly incoming: string;
  readonly stagingDir: string;
  readonly storageDir: string;
  readonly databaseUrl: string;
  client!: Client;
  workers: Partial<Record<'cpu' | 'gpu', WorkerProcess>> = {};
  private temporal!: TemporalDevServer;
  private connection!: Connection;
  private workerCount = 0;

  private constructor(
    readonly dataDir: string,
    readonly pg: Postgres15Cluster,
    private readonly ports: { temporal: number; ui: number },
  ) {
    this.incoming = path.join(dataDir, 'incoming');
    this.stagingDir = path.join(dataDir, 'staging');
    this.storageDir = path.join(dataDir, 'storage');
    this.databaseUrl = pg.serverUrl;
  }

  static async start(): Promise<FaultStack> {
    const dataDir = await makeTempDir('audio-pipeline-faults-');
    const [pg, [temporalPort, uiPort]] = await Promise.all([startPostgres15Cluster(), freePorts(2)]);
    const stack = new FaultStack(dataDir, pg, { temporal: temporalPort, ui: uiPort });
    await stack.startTemporal();
    return stack;
  }

  get taskQueue(): string {
    return CPU_QUEUE;
  }

  /** The dev server, with its state in <dataDir>/temporal/temporal.sqlite (kept across restarts). */
  async startTemporal(): Promise<void> {
    this.temporal = await startTemporalDevServer({
      dataDir: this.dataDir,
      port: this.ports.temporal,
      uiPort: this.ports.ui,
      namespace: 'default',
    });
    this.connection = await Connection.connect({ address: this.temporal.address });
    this.client = new Client({ connection: this.connection });
  }

  async stopTemporal(): Promise<void> {
    await this.connection.close();
    await this.temporal.stop();
  }

  /** Starts a worker process and waits until it polls its queue. */
  async startWorker(queue: 'cpu' | 'gpu'): Promise<WorkerProcess> {
    const logFile = path.join(this.dataDir, `worker-${queue}-${++this.workerCount}.log`);
    const out = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [path.join(repo, 'bin/audio-pipeline.js'), 'worker', '--queue', queue],
        {
          cwd: repo,
          env: this.workerEnv(),
          stdio: ['ignore', out, out],
        },
      );
    } finally {
      closeSync(out);
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const worker: WorkerProcess = {
      queue,
      pid: child.pid!,
      logFile,
      exited,
      async kill() {
        child.kill('SIGKILL');
        await exited;
      },
    };
    this.workers[queue] = worker;
    await waitFor(
      `the ${queue} worker to poll (${logFile})`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`the ${queue} worker exited: ${await readFile(logFile, 'utf8')}`);
        return (await readFile(logFile, 'utf8')).includes(`${queue} worker polling`) || undefined;
      },
      120_000,
      100,
    );
    return worker;
  }

  /** Everything a worker reads, spelled out: nothing leaks in from the test's environment. */
  private workerEnv(): NodeJS.ProcessEnv {
    const { whisper } = loadConfig();
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: this.dataDir,
      DATABASE_URL: this.databaseUrl,
      TEMPORAL_ADDRESS: this.temporal.address,
      TASK_QUEUE: CPU_QUEUE,
      GPU_TASK_QUEUE: GPU_QUEUE,
      SOURCE: `local:${this.incoming}`,
      STAGING_DIR: this.stagingDir,
      STORAGE_TARGET: this.storageDir,
      WHISPER_MODEL: 'tiny.en',
      WHISPER_MODEL_CACHE: whisper.modelCache,
      WHISPER_BATCH_SIZE: '1',
      WHISPER_THREADS: '1',
      CONVERT_CONCURRENCY: '1',
      LOG_LEVEL: 'info',
    };
  }

  async close(): Promise<void> {
    for (const w of Object.values(this.workers)) await w?.kill();
    await this.connection?.close().catch(() => {});
    await this.temporal?.stop();
    await this.pg.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
