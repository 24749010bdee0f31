import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { openDatabase, type OpenedDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { devServerOptionsFromConfig, startTemporalDevServer } from './temporal-dev-server.ts';
import { createCpuWorker } from '../workers/cpu-worker.ts';
import { createGpuWorker } from '../workers/gpu-worker.ts';
import { installTemporalLogging } from '../workers/runtime-logging.ts';

/**
 * What `run`, `dev` and `demo` need: a database (DATABASE_URL, or an embedded PostgreSQL), a
 * Temporal server (TEMPORAL_ADDRESS, or the dev server from local/temporal-dev-server.ts), a client, and — when
 * asked — both workers in this process. `stop()` takes down only what this process started.
 */
export interface LocalStack {
  database: OpenedDatabase;
  client: Client;
  temporalAddress: string;
  /** Set when this process started the dev server: the Web UI's address. */
  uiUrl: string | null;
  stop(): Promise<void>;
}

export async function startLocalStack(
  config: Config,
  logger: Logger,
  options: { workers: boolean },
): Promise<LocalStack> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => logger.warn({ err }, 'shutdown step failed'));
  };
  installTemporalLogging(logger);
  try {
    const database = await openDatabase(config, {
      logger: { info: (m) => logger.info(m), warn: (m) => logger.warn(m) },
    });
    stops.push(() => database.close());
    await migrate(database.db);

    let temporalAddress = config.temporal.address;
    let uiUrl: string | null = null;
    if (!temporalAddress) {
      const server = await startTemporalDevServer(
        devServerOptionsFromConfig(config, (line) => logger.info(line)),
      );
      stops.push(() => server.stop());
      temporalAddress = server.address;
      uiUrl = server.uiUrl;
    }
    const connection = await Connection.connect({ address: temporalAddress });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: config.temporal.namespace });

    if (options.workers) {
      const workerConnection = await NativeConnection.connect({ address: temporalAddress });
      stops.push(() => workerConnection.close());
      const cpu = await createCpuWorker({ config, logger, db: database.db, connection: workerConnection });
      const gpu = await createGpuWorker({ config, logger, connection: workerConnection });
      stops.push(() => gpu.close());
      const running = [cpu, gpu.worker].map((w) => runUntilStopped(w, logger));
      stops.push(async () => {
        for (const w of [cpu, gpu.worker]) if (w.getState() === 'RUNNING') w.shutdown();
        await Promise.all(running);
      });
    }
    return { database, client, temporalAddress, uiUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function runUntilStopped(worker: Worker, logger: Logger): Promise<void> {
  return worker.run().catch((err) => logger.error({ err }, 'worker stopped with an error'));
}
