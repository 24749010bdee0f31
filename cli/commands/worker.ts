import type { Command } from 'commander';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createCpuWorker } from '../../workers/cpu-worker.ts';
import { runPilotGpuWorker } from '../../workers/pilot.ts';
import { installTemporalLogging } from '../../workers/runtime-logging.ts';
import { dbLogger, type CliContext } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { gracefulStop, InterruptedError } from '../signals.ts';
import { ensureModel } from '../../lib/model-supply/ensure.ts';
import { withDatabase } from '../with-database.ts';

export function registerWorkerCommand(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .summary('run one worker (cpu or gpu task queue) until SIGINT/SIGTERM')
    .description(
      'Run one worker against TEMPORAL_ADDRESS (default 127.0.0.1:7233) until SIGINT/SIGTERM, then drain ' +
        'and exit. cpu: workflows + extract/convert/store/upload (needs the database); gpu: transcription only.',
    )
    .requiredOption('--queue <cpu|gpu>', 'which task queue to poll')
    .option('--idle-exit <minutes>', 'gpu: exit after this long without work (default PILOT_IDLE_EXIT_MIN)')
    .option(
      '--walltime <minutes>',
      'gpu: stop taking work before this time is up (inside SLURM: the job end)',
    )
    .action(async (opts: { queue: string; idleExit?: string; walltime?: string }) => {
      if (opts.queue !== 'cpu' && opts.queue !== 'gpu')
        throw new CliError(`--queue must be cpu or gpu, got ${JSON.stringify(opts.queue)}`, EXIT.usage);
      const config = ctx.loadConfig();
      const logger = ctx.logger();
      const address = config.temporal.address ?? `127.0.0.1:${config.temporal.port}`;
      const idleExitMs = minutesOption('--idle-exit', opts.idleExit) ?? config.pilot.idleExitMs;
      const walltimeMs = minutesOption('--walltime', opts.walltime);
      // The GPU worker lets its batch in flight finish (PILOT_GRACE_S), then hands over and closes.
      const stopping = gracefulStop(opts.queue === 'gpu' ? config.pilot.graceMs + 30_000 : undefined);
      try {
        if (opts.queue === 'gpu') {
          await ensureModel(config, (line) => process.stderr.write(`${line}\n`), undefined, stopping.signal);
        }
        stopping.signal.throwIfAborted();
        installTemporalLogging(logger, { metricsAddress: config.monitor.workerMetricsAddress });
        const connection = await NativeConnection.connect({ address });
        try {
          if (opts.queue === 'gpu') {
            logger.info({ address, taskQueue: config.temporal.gpuTaskQueue }, 'gpu worker starting');
            const endsAt = walltimeMs === undefined ? undefined : new Date(Date.now() + walltimeMs);
            await runPilotGpuWorker({
              config,
              logger,
              connection,
              idleExitMs,
              endsAt,
              stop: stopping.signal,
            });
          } else {
            await withDatabase(config, { logger: dbLogger(ctx), migrate: true }, async ({ db }) => {
              const worker = await createCpuWorker({ config, logger, db, connection });
              logger.info({ address, taskQueue: config.temporal.taskQueue }, 'cpu worker polling');
              await runUntilStopped(worker, stopping);
            });
          }
        } finally {
          // After the worker has drained: a connection cannot close while a worker holds it.
          await connection.close();
        }
      } catch (err) {
        // A signal before the worker ran: what had started is stopped already. SIGTERM is how
        // SLURM (--signal) and service managers ask a worker to stop: with no work taken there is
        // nothing to drain, a clean stop (exit 0, as slurm/*.sbatch's trap before the worker
        // starts). SIGINT, a person's Ctrl-C, is an interruption.
        if (!(err instanceof InterruptedError)) throw err;
        if (err.signal === 'SIGTERM') logger.info('SIGTERM before the worker ran: nothing to drain');
        else process.exitCode = EXIT.interrupted;
      } finally {
        stopping.release();
      }
    });
}

/** Runs the worker until the first SIGINT/SIGTERM, then shuts it down and waits until it has drained. */
async function runUntilStopped(worker: Worker, stopping: { signal: AbortSignal }): Promise<void> {
  const running = worker.run();
  const shutdown = () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  if (stopping.signal.aborted) shutdown();
  else stopping.signal.addEventListener('abort', shutdown, { once: true });
  try {
    await running;
  } finally {
    stopping.signal.removeEventListener('abort', shutdown);
  }
}

function minutesOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const minutes = Number(value);
  if (!(minutes > 0))
    throw new CliError(
      `${name} must be a positive number of minutes, got ${JSON.stringify(value)}`,
      EXIT.usage,
    );
  return minutes * 60_000;
}
