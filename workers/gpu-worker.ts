import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createGpuActivities } from '../activities/index.ts';
import { installTemporalLogging } from './runtime-logging.ts';
import { workerDeploymentOptions } from './versioning.ts';
import type { ActivityContext } from '../activities/context.ts';
import { resolveModelDir } from '../lib/model-supply/store.ts';
import { configuredVadModel } from '../lib/model-supply/vad-asset.ts';
import { WhisperEngine } from '../lib/whisper/transcribe.ts';
import { segmentTimestampsFor } from '../lib/whisper/devices.ts';
import type { BatchGate } from '../lib/hpc/walltime.ts';

/** The Whisper engine of a GPU worker: loaded on first use, then shared by every task. */
export interface EngineLoader {
  engine(): Promise<WhisperEngine>;
  modelName: string;
  close(): Promise<void>;
}

export function whisperEngineLoader(ctx: ActivityContext): EngineLoader {
  const { whisper } = ctx.config;
  const modelDir = resolveModelDir(whisper.model, whisper.modelCache);
  const vadModel = configuredVadModel(whisper);
  let loading: Promise<WhisperEngine> | undefined;
  return {
    modelName: path.basename(modelDir),
    engine() {
      loading ??= WhisperEngine.load({
        modelDir,
        device: whisper.device,
        compute: whisper.compute,
        decoder: whisper.decoder,
        threads: whisper.threads,
        batchSize: whisper.batchSize,
        logger: ctx.logger,
        ffmpegPath: ctx.config.ffmpegPath,
        maxClipSeconds: ctx.config.limits.maxClipSeconds,
        wordTimestamps: whisper.wordTimestamps,
        segmentTimestamps: segmentTimestampsFor(whisper.segments),
        packClips: whisper.pack,
        vadModel,
      }).catch((err: unknown) => {
        loading = undefined; // the next task tries again instead of reusing the failure
        throw err;
      });
      return loading;
    },
    async close() {
      if (loading) await (await loading).close();
    },
  };
}

/**
 * The GPU queue (GPU_TASK_QUEUE, default `audio-pipeline-gpu`): transcription only. One activity at a time, because one batch
 * already fills the device; the model loads on the first task (or before, by the pilot) and
 * stays loaded.
 */
export async function createGpuWorker(
  ctx: ActivityContext & {
    connection: NativeConnection;
    taskQueue?: string;
    /** An engine loaded already (the pilot warms it up before it polls). */
    loader?: EngineLoader;
    /** A pilot job's walltime (workers/pilot.ts). */
    batchGate?: BatchGate;
    /** Shown in the Web UI beside each activity and its heartbeats (a SLURM job and node). */
    identity?: string;
    /** How long shutdown waits for the batch in flight before cancelling it (default 0). */
    shutdownGraceTimeMs?: number;
  },
): Promise<{ worker: Worker; close(): Promise<void> }> {
  installTemporalLogging(ctx.logger);
  const loader = ctx.loader ?? whisperEngineLoader(ctx);
  const { engine, modelName } = loader;
  const worker = await Worker.create({
    connection: ctx.connection,
    namespace: ctx.config.temporal.namespace,
    taskQueue: ctx.taskQueue ?? ctx.config.temporal.gpuTaskQueue,
    activities: createGpuActivities({ ...ctx, engine, modelName }),
    maxConcurrentActivityTaskExecutions: 1,
    ...workerDeploymentOptions(ctx.config),
    ...(ctx.identity ? { identity: ctx.identity } : {}),
    ...(ctx.shutdownGraceTimeMs ? { shutdownGraceTime: ctx.shutdownGraceTimeMs } : {}),
  });
  return { worker, close: () => loader.close() };
}
