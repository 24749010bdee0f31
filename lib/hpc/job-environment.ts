/**
 * The environment a worker job gets: the submitter's own (sbatch's --export=ALL, so PATH, HOME
 * and any AUDIO_PIPELINE_SIF come along) with the pipeline's settings written out from the
 * submitter's configuration — the same Temporal, queues, model and staging — so that a job
 * submitted by the autoscaler serves exactly the deployment that asked for it. Settings travel in
 * the environment, never in sbatch's argv.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inheritedEnv, type Config } from '../config.ts';

/** The checkout (or image path) the jobs run from. */
export const APP_DIR = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

export function gpuJobEnvironment(config: Config): NodeJS.ProcessEnv {
  const { temporal, whisper, pilot } = config;
  const vars: Record<string, string | undefined> = {
    AUDIO_PIPELINE_DIR: APP_DIR,
    DATA_DIR: config.dataDir,
    STAGING_DIR: config.stagingDir,
    TEMPORAL_ADDRESS: temporal.address ?? `127.0.0.1:${temporal.port}`,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TASK_QUEUE: temporal.taskQueue,
    GPU_TASK_QUEUE: temporal.gpuTaskQueue,
    // Pinned dates' transcriptions go to GPU workers of their own build (workers/versioning.ts).
    WORKER_BUILD_ID: temporal.workerVersion?.buildId,
    WORKER_DEPLOYMENT_NAME: temporal.workerVersion?.deploymentName,
    WHISPER_MODEL: whisper.model,
    WHISPER_MODEL_CACHE: whisper.modelCache,
    WHISPER_DEVICE: pilot.jobWhisperDevice,
    WHISPER_BATCH_SIZE: String(whisper.batchSize),
    WHISPER_LANGUAGE: whisper.language,
    WHISPER_WORD_TIMESTAMPS: whisper.wordTimestamps ? '1' : '0',
    WHISPER_SEGMENTS: whisper.segments,
    WHISPER_PACK: whisper.pack === undefined ? 'auto' : whisper.pack ? '1' : '0',
    FFMPEG_PATH: config.ffmpegPath,
    PILOT_MARGIN_S: pilot.marginMs === undefined ? undefined : String(pilot.marginMs / 1000),
    PILOT_FIRST_BATCH_S: String(pilot.firstBatchMs / 1000),
    PILOT_GRACE_S: String(pilot.graceMs / 1000),
    PILOT_IDLE_EXIT_MIN: pilot.idleExitMs === undefined ? undefined : String(pilot.idleExitMs / 60_000),
    LOG_LEVEL: config.logLevel,
  };
  const set = Object.entries(vars).filter((entry): entry is [string, string] => entry[1] !== undefined);
  const env = inheritedEnv(Object.fromEntries(set));
  // A GPU worker never opens the database: its password stays out of the job (SLURM keeps a
  // batch job's environment in its state files).
  delete env.DATABASE_URL;
  return env;
}
