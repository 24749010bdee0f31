import type { Command } from 'commander';
import { NativeConnection } from '@temporalio/worker';
import { createCpuWorker } from '../../workers/cpu-worker.ts';
import { createGpuWorker } from '../../workers/gpu-worker.ts';
import { installTemporalLogging } from '../../workers/runtime-logging.ts';
import { dbLogger, type CliContext } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';
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
    .action(async (opts: { queue: string }) => {
      if (opts.queue !== 'cpu' && opts.queue !== 'gpu')
        throw new CliError(`--queue must be cpu or gpu, got ${JSON.stringify(opts.queue)}`, EXIT.usage);
      const config = ctx.loadConfig();
      const logger = ctx.logger();
      const address = config.temporal.address ?? `127.0.0.1:${config.temporal.port}`;
      installTemporalLogging(logger);
      const connection = await NativeConnection.connect({ address });
      try {
        if (opts.queue === 'gpu') {
          const gpu = await createGpuWorker({ config, logger, connection });
          logger.info({ address, taskQueue: config.temporal.gpuTaskQueue }, 'gpu worker polling');
          await gpu.worker.run().finally(() => gpu.close());
        } else {
          await withDatabase(config, { logger: dbLogger(ctx), migrate: true }, async ({ db }) => {
            const worker = await createCpuWorker({ config, logger, db, connection });
            logger.info({ address, taskQueue: config.temporal.taskQueue }, 'cpu worker polling');
            await worker.run();
          });
        }
      } finally {
        await connection.close();
      }
    });
}
