import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { ensureModel } from '../lib/model-supply/ensure.ts';
import { openDatabase, type OpenedDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import {
  checkDevServerPorts,
  devServerOptionsFromConfig,
  startTemporalDevServer,
  type TemporalDevServer,
} from './temporal-dev-server.ts';
import { createCpuWorker } from '../workers/cpu-worker.ts';
import { createGpuWorker } from '../workers/gpu-worker.ts';
import { installTemporalLogging } from '../workers/runtime-logging.ts';

/**
 * What `run`, `dev` and `demo` need: a database (DATABASE_URL, or an embedded PostgreSQL), a
 * Temporal server (TEMPORAL_ADDRESS, or the dev server from temporal-dev-server.ts), a client,
 * and — when asked — both workers in this process, with the Whisper model fetched first if it
 * is missing. `stop()` takes down only what this process started, in the reverse order: workers
 * (drained) before their connection, connections before the server, the database last.
 * A failure or an abort while starting takes down what was already up before it is thrown.
 */
export interface LocalStack {
  database: OpenedDatabase;
  client: Client;
  temporalAddress: string;
  /** Set when this process started the dev server: the Web UI's address. */
  uiUrl: string | null;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  workers: boolean;
  /** Aborted (SIGINT/SIGTERM): stop starting, take down what is up, throw the signal's reason. */
  signal?: AbortSignal;
  /** Lines for the person at the terminal (the model fetch's progress). */
  say?: (line: string) => void;
}

export async function startLocalStack(
  config: Config,
  logger: Logger,
  options: LocalStackOptions,
): Promise<LocalStack> {
  const stops: Array<{ what: string; stop: () => Promise<void> }> = [];
  const started = (what: string, stop: () => Promise<void>) => {
    stops.push({ what, stop });
    logger.debug({ what }, 'local stack: started');
  };
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) {
      await s.stop().catch((err: unknown) => logger.warn({ err }, `stopping ${s.what} failed`));
      logger.debug({ what: s.what }, 'local stack: stopped');
    }
  };
  const checkpoint = () => options.signal?.throwIfAborted();
  installTemporalLogging(logger);
  try {
    // The model first: a missing one stops everything before anything has started.
    if (options.workers) {
      await ensureModel(config, options.say ?? ((line) => logger.info(line)), undefined, options.signal);
      checkpoint();
    }
    const devServer = config.temporal.address
      ? undefined
      : devServerOptionsFromConfig(config, (line) => logger.info(line));
    // A port taken is known in a moment: say so before starting anything slow.
    if (devServer) await checkDevServerPorts(devServer);
    checkpoint();

    // The database and the dev server start side by side; when one fails, the other stops
    // waiting (abort), and whatever did start is stopped below.
    const failed = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
    const failFast = <T>(p: Promise<T>) =>
      p.catch((err: unknown) => {
        failed.abort(err);
        throw err;
      });
    const [db, server] = await Promise.allSettled([
      failFast(
        (async () => {
          const database = await openDatabase(config, {
            logger: { info: (m) => logger.info(m), warn: (m) => logger.warn(m) },
          });
          await migrate(database.db).catch(async (err: unknown) => {
            await database.close();
            throw err;
          });
          return database;
        })(),
      ),
      failFast(devServer ? startTemporalDevServer({ ...devServer, signal }) : Promise.resolve(undefined)),
    ]);
    // In a fixed order whichever came up first: the server is stopped before the database.
    if (db.status === 'fulfilled') started('database', () => db.value.close());
    if (server.status === 'fulfilled' && server.value) {
      const dev = server.value;
      started(`Temporal dev server${dev.pid ? ` pid ${dev.pid}` : ''}`, () => dev.stop());
    }
    checkpoint();
    // The first failure is the one to report, not the abort it caused in the other.
    if (failed.signal.aborted) throw failed.signal.reason;
    const database = (db as PromiseFulfilledResult<OpenedDatabase>).value;
    const dev = (server as PromiseFulfilledResult<TemporalDevServer | undefined>).value;
    const temporalAddress = dev?.address ?? config.temporal.address!;
    const uiUrl = dev?.uiUrl ?? null;

    const connection = await Connection.connect({ address: temporalAddress });
    started('client connection', () => connection.close());
    const client = new Client({ connection, namespace: config.temporal.namespace });

    if (options.workers) {
      const workerConnection = await NativeConnection.connect({ address: temporalAddress });
      started('worker connection', () => workerConnection.close());
      const cpu = await createCpuWorker({ config, logger, db: database.db, connection: workerConnection });
      started('cpu worker', drain(cpu, logger));
      const gpu = await createGpuWorker({ config, logger, connection: workerConnection });
      const stopGpu = drain(gpu.worker, logger);
      started('gpu worker', async () => {
        await stopGpu();
        await gpu.close(); // the engine, once the last transcription has drained
      });
      checkpoint();
    }
    return { database, client, temporalAddress, uiUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Runs the worker at once and returns what stops it: shutdown, then wait until it has drained.
 * (A worker created but never run keeps its hold on the connection, which then cannot close:
 * "Cannot close connection while Workers hold a reference to it".)
 */
function drain(worker: Worker, logger: Logger): () => Promise<void> {
  const running = worker.run().catch((err: unknown) => logger.error({ err }, 'worker stopped with an error'));
  return async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  };
}
