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
  MAX_ARCHIVE_ENTRIES: positiveInt.default(50_000),
  MAX_XZ_MEMORY_BYTES: positiveInt.default(1024 * 1024 * 1024),
  MAX_TAR_META_BYTES: positiveInt.default(64 * 1024),
  MAX_CLIP_SECONDS: positiveInt.default(600),
  MAX_PARQUET_ROWS: positiveInt.default(100_000),
  MONITOR_HOST: z.string().min(1).default('127.0.0.1'),
  MONITOR_PORT: positiveInt.default(8080),
  MONITOR_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
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
  limits: Limits;
  monitor: { host: string; port: number; token?: string };
  logLevel: Env['LOG_LEVEL'];
}

/** Bounds on what one hostile input may cost (docs/reliability.md, "Bad inputs"). */
export interface Limits {
  /** Largest file an archive may hold. */
  maxEntryBytes: number;
  /** Every byte out of xz counts, refused entries and tar headers included. */
  maxArchiveBytes: number;
  /** Entries of any kind in one archive (an empty file escapes the byte cap, not this one). */
  maxArchiveEntries: number;
  /** xz's --memlimit-decompress. */
  maxXzMemoryBytes: number;
  /** Largest pax / GNU long-name header: a name never needs more. */
  maxTarMetaBytes: number;
  /** Longest clip converted or transcribed; a longer one fails alone. */
  maxClipSeconds: number;
  /** Rows a metadata.parquet may declare in its footer. */
  maxParquetRows: number;
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
    limits: {
      maxEntryBytes: e.MAX_ENTRY_BYTES,
      maxArchiveBytes: e.MAX_ARCHIVE_BYTES,
      maxArchiveEntries: e.MAX_ARCHIVE_ENTRIES,
      maxXzMemoryBytes: e.MAX_XZ_MEMORY_BYTES,
      maxTarMetaBytes: e.MAX_TAR_META_BYTES,
      maxClipSeconds: e.MAX_CLIP_SECONDS,
      maxParquetRows: e.MAX_PARQUET_ROWS,
    },
    monitor: { host: e.MONITOR_HOST, port: e.MONITOR_PORT, token: e.MONITOR_TOKEN },
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * The environment of a child that parses untrusted input (ffmpeg, xz): enough to run (PATH, a
 * plain locale), nothing else, so that a parser exploited by a crafted file finds no
 * DATABASE_URL, token or password in its environment.
 */
export function untrustedChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { PATH: env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C' };
}
