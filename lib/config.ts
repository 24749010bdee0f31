import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

/**
 * Every setting of DESIGN.md §5, read from the environment by one zod schema.
 * Defaults are the embedded, single-machine ones; all local state lives under DATA_DIR.
 */
const positiveInt = z.coerce.number().int().positive();

const envSchema = z.object({
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')
    .optional(),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'host:port')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_PORT: positiveInt.default(8233),
  TEMPORAL_PORT: positiveInt.default(7233),
  TEMPORAL_CLI: z.string().optional(),
  TASK_QUEUE: z.string().min(1).default('audio-pipeline'),
  GPU_TASK_QUEUE: z.string().min(1).default('audio-pipeline-gpu'),
  SOURCE: z
    .string()
    .regex(/^(local:.+|globus:[^:]+:.+)$/, 'local:<dir> or globus:<endpoint-id>:<path>')
    .optional(),
  STAGING_DIR: z.string().min(1).optional(),
  STORAGE_TARGET: z.string().min(1).optional(),
  UPLOAD: z.enum(['on', 'off']).default('on'),
  WHISPER_MODEL: z.string().min(1).default('base'),
  WHISPER_MODEL_CACHE: z.string().min(1).optional(),
  WHISPER_DEVICE: z.enum(['cpu', 'cuda', 'webgpu', 'auto']).default('cpu'),
  WHISPER_BATCH_SIZE: positiveInt.default(8),
  WHISPER_THREADS: positiveInt.optional(),
  WHISPER_LANGUAGE: z
    .string()
    .regex(/^[a-z]{2,3}$/, 'a Whisper language code such as en, de, es')
    .optional(),
  FFMPEG_PATH: z.string().min(1).optional(),
  CONVERT_CONCURRENCY: positiveInt.optional(),
  ARCHIVE_CONCURRENCY: positiveInt.default(2),
  MAX_ENTRY_BYTES: positiveInt.default(512 * 1024 * 1024),
  MAX_ARCHIVE_BYTES: positiveInt.default(16 * 1024 * 1024 * 1024),
  MONITOR_HOST: z.string().min(1).default('127.0.0.1'),
  MONITOR_PORT: positiveInt.default(8080),
  MONITOR_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  // SLURM sets these inside a job; the GPU worker reads its end time from them (lib/hpc/).
  SLURM_JOB_ID: z.string().regex(/^\d+$/, 'a SLURM job id').optional(),
  SLURM_JOB_END_TIME: z.string().regex(/^\d+$/, 'Unix seconds').optional(),
  SLURMD_NODENAME: z.string().min(1).optional(),
  PILOT_MARGIN_S: positiveInt.optional(),
  PILOT_FIRST_BATCH_S: positiveInt.default(60),
  PILOT_GRACE_S: positiveInt.default(120),
  PILOT_IDLE_EXIT_MIN: z.coerce.number().positive().optional(),
  MAX_GPU_JOBS: positiveInt.default(4),
  PILOT_WHISPER_DEVICE: z.enum(['cpu', 'cuda', 'webgpu', 'auto']).default('cuda'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  dataDir: string;
  databaseUrl?: string;
  temporal: {
    address?: string;
    namespace: string;
    port: number;
    uiPort: number;
    cli?: string;
    taskQueue: string;
    gpuTaskQueue: string;
  };
  source: string;
  stagingDir: string;
  storageTarget: string;
  upload: boolean;
  whisper: {
    model: string;
    modelCache: string;
    device: Env['WHISPER_DEVICE'];
    batchSize: number;
    threads: number;
    language?: string;
  };
  ffmpegPath?: string;
  convertConcurrency: number;
  archiveConcurrency: number;
  limits: { maxEntryBytes: number; maxArchiveBytes: number };
  monitor: { host: string; port: number; token?: string };
  /** Set when this process runs inside a SLURM job. */
  slurm: { jobId?: string; jobEndTime?: Date; nodeName?: string };
  /** The walltime-aware GPU worker (workers/pilot.ts) and its autoscaler. */
  pilot: {
    /** Fixed time a batch needs left to start; unset = twice the longest recent batch. */
    marginMs?: number;
    /** Batch time assumed before one was measured. */
    firstBatchMs: number;
    /** How long a stopping worker waits for its current batch before cancelling it. */
    graceMs: number;
    idleExitMs?: number;
    maxGpuJobs: number;
    /** WHISPER_DEVICE of the GPU jobs this process submits (cuda; cpu in the CPU-only tests). */
    jobWhisperDevice: Env['WHISPER_DEVICE'];
  };
  logLevel: Env['LOG_LEVEL'];
}

/** Reads and validates the environment. A bad value throws ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      const given = env[name];
      const shown =
        name.includes('TOKEN') || name.includes('SECRET') || name === 'DATABASE_URL'
          ? '(hidden)'
          : JSON.stringify(given);
      return `${name}=${shown}: expected ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const cores = os.availableParallelism();
  return {
    dataDir,
    databaseUrl: e.DATABASE_URL,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      port: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      cli: e.TEMPORAL_CLI,
      taskQueue: e.TASK_QUEUE,
      gpuTaskQueue: e.GPU_TASK_QUEUE,
    },
    source: e.SOURCE ?? `local:${path.join(dataDir, 'incoming')}`,
    stagingDir: path.resolve(e.STAGING_DIR ?? path.join(dataDir, 'staging')),
    storageTarget: e.STORAGE_TARGET ?? path.join(dataDir, 'storage'),
    upload: e.UPLOAD === 'on',
    whisper: {
      model: e.WHISPER_MODEL,
      modelCache: path.resolve(
        e.WHISPER_MODEL_CACHE ?? path.join(os.homedir(), '.cache', 'audio-pipeline', 'models'),
      ),
      device: e.WHISPER_DEVICE,
      batchSize: e.WHISPER_BATCH_SIZE,
      threads: e.WHISPER_THREADS ?? cores,
      language: e.WHISPER_LANGUAGE,
    },
    ffmpegPath: e.FFMPEG_PATH,
    convertConcurrency: e.CONVERT_CONCURRENCY ?? cores,
    archiveConcurrency: e.ARCHIVE_CONCURRENCY,
    limits: { maxEntryBytes: e.MAX_ENTRY_BYTES, maxArchiveBytes: e.MAX_ARCHIVE_BYTES },
    monitor: { host: e.MONITOR_HOST, port: e.MONITOR_PORT, token: e.MONITOR_TOKEN },
    slurm: {
      jobId: e.SLURM_JOB_ID,
      jobEndTime: e.SLURM_JOB_END_TIME ? new Date(Number(e.SLURM_JOB_END_TIME) * 1000) : undefined,
      nodeName: e.SLURMD_NODENAME,
    },
    pilot: {
      marginMs: e.PILOT_MARGIN_S === undefined ? undefined : e.PILOT_MARGIN_S * 1000,
      firstBatchMs: e.PILOT_FIRST_BATCH_S * 1000,
      graceMs: e.PILOT_GRACE_S * 1000,
      idleExitMs: e.PILOT_IDLE_EXIT_MIN === undefined ? undefined : e.PILOT_IDLE_EXIT_MIN * 60_000,
      maxGpuJobs: e.MAX_GPU_JOBS,
      jobWhisperDevice: e.PILOT_WHISPER_DEVICE,
    },
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * This process's environment plus `vars`, for a child that must see both (a SLURM job gets the
 * submitter's PATH and HOME and the pipeline's settings). The one other place that reads
 * process.env, so that it stays in this file.
 */
export function environmentWith(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...vars };
}
