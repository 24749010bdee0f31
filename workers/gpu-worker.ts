import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createGpuActivities } from '../activities/index.ts';
import { installTemporalLogging } from './runtime-logging.ts';
import type { ActivityContext } from '../activities/context.ts';
import { resolveModelDir } from '../lib/model-supply/store.ts';
import { WhisperEngine } from '../lib/whisper/transcribe.ts';

/**
 * The GPU queue (GPU_TASK_QUEUE, default `audio-pipeline-gpu`): transcription only. One activity at a time, because one batch
 * already fills the device; the model loads on the first task and stays loaded.
 */
export async function createGpuWorker(
  ctx: ActivityContext & { connection: NativeConnection; taskQueue?: string },
): Promise<{ worker: Worker; close(): Promise<void> }> {
  installTemporalLogging(ctx.logger);
  const { whisper } = ctx.config;
  const modelDir = resolveModelDir(whisper.model, whisper.modelCache);
  let loading: Promise<WhisperEngine> | undefined;
  const engine = () => {
    loading ??= WhisperEngine.load({
      modelDir,
      device: whisper.device,
      threads: whisper.threads,
      batchSize: whisper.batchSize,
      logger: ctx.logger,
      ffmpegPath: ctx.config.ffmpegPath,
      maxClipSeconds: ctx.config.limits.maxClipSeconds,
    }).catch((err: unknown) => {
      loading = undefined; // the next task tries again instead of reusing the failure
      throw err;
    });
    return loading;
  };
  const worker = await Worker.create({
    connection: ctx.connection,
    namespace: ctx.config.temporal.namespace,
    taskQueue: ctx.taskQueue ?? ctx.config.temporal.gpuTaskQueue,
    activities: createGpuActivities({ ...ctx, engine, modelName: path.basename(modelDir) }),
    maxConcurrentActivityTaskExecutions: 1,
  });
  return {
    worker,
    async close() {
      if (loading) await (await loading).close();
    },
  };
}
