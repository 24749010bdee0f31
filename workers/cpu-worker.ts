import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createCpuActivities } from '../activities/index.ts';
import { installTemporalLogging } from './runtime-logging.ts';
import { workerDeploymentOptions } from './versioning.ts';
import type { DatabaseContext } from '../activities/context.ts';

const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * The CPU queue (TASK_QUEUE, default `audio-pipeline`): workflows plus list/transfer/extract/
 * convert/store/upload/cleanup and the queue rows. Conversion
 * runs one ffmpeg per core inside one activity, so a few concurrent activities are enough.
 */
export async function createCpuWorker(
  ctx: DatabaseContext & { connection: NativeConnection; taskQueue?: string },
): Promise<Worker> {
  installTemporalLogging(ctx.logger);
  return Worker.create({
    connection: ctx.connection,
    namespace: ctx.config.temporal.namespace,
    taskQueue: ctx.taskQueue ?? ctx.config.temporal.taskQueue,
    workflowsPath,
    activities: createCpuActivities(ctx),
    maxConcurrentActivityTaskExecutions: 4,
    ...workerDeploymentOptions(ctx.config),
  });
}
