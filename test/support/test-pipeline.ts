/**
 * What tests need to run dates through real workers: the Temporal dev server
 * (TestWorkflowEnvironment), an embedded PostgreSQL with the schema migrated, and the pipeline's
 * settings pointing at both. Workers are made per task queue; `close()` stops everything that
 * was started here, workers first.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { migrate } from '../../db/migrate.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { createCpuWorker } from '../../workers/cpu-worker.ts';
import { createGpuWorker } from '../../workers/gpu-worker.ts';
import { startEmbeddedTestPostgres } from './postgres.ts';
import { createLocalTestEnvironment } from './temporal.ts';

export interface TestPipeline {
  env: TestWorkflowEnvironment;
  pg: Awaited<ReturnType<typeof startEmbeddedTestPostgres>>;
  config: Config;
  logger: Logger;
  /** A worker for workflows and CPU activities on `taskQueue`, with `config` (default: the pipeline's). */
  cpuWorker(taskQueue: string, config?: Config): Promise<Worker>;
  /** A worker for transcription on `taskQueue`; its model is released by close(). */
  gpuWorker(taskQueue: string): Promise<Worker>;
  /** Runs every worker made here until close(). */
  runWorkers(): void;
  close(): Promise<void>;
}

export async function startTestPipeline(options: {
  dataDir: string;
  incoming: string;
  /** More settings, as environment variables (WHISPER_MODEL, …). */
  settings?: Record<string, string | undefined>;
  logLevel?: 'warn' | 'silent';
}): Promise<TestPipeline> {
  const logLevel = options.logLevel ?? 'warn';
  const [env, pg] = await Promise.all([createLocalTestEnvironment(), startEmbeddedTestPostgres()]);
  const workers: Worker[] = [];
  const running: Promise<void>[] = [];
  const releaseModels: (() => Promise<void>)[] = [];
  try {
    await migrate(pg.opened.db);
  } catch (err) {
    await env.teardown();
    await pg.close();
    throw err;
  }
  const config = loadConfig({
    DATA_DIR: options.dataDir,
    DATABASE_URL: pg.url,
    SOURCE: `local:${options.incoming}`,
    WHISPER_MODEL_CACHE: process.env.WHISPER_MODEL_CACHE,
    LOG_LEVEL: logLevel,
    ...options.settings,
  });
  const logger = createLogger('test', logLevel);
  return {
    env,
    pg,
    config,
    logger,
    async cpuWorker(taskQueue, workerConfig = config) {
      const worker = await createCpuWorker({
        config: workerConfig,
        logger,
        db: pg.opened.db,
        connection: env.nativeConnection,
        taskQueue,
      });
      workers.push(worker);
      return worker;
    },
    async gpuWorker(taskQueue) {
      const gpu = await createGpuWorker({ config, logger, connection: env.nativeConnection, taskQueue });
      releaseModels.push(gpu.close);
      workers.push(gpu.worker);
      return gpu.worker;
    },
    runWorkers() {
      for (const w of workers.slice(running.length)) running.push(w.run());
    },
    async close() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
      for (const release of releaseModels) await release();
      await env.teardown();
      await pg.close();
    },
  };
}
