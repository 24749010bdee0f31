/**
 * The pipeline's Temporal interface in one place (in the spirit of the Temporal samples'
 * `shared.ts`): what a client, a worker, the dev server and a person with the `temporal` CLI
 * need to agree on. Workflows, workers, the CLI and local/ import it.
 *
 * It lives in workflows/ because the workflow bundle imports it too: only deterministic code and
 * Temporal's workflow-safe definitions here, no Node APIs, nothing from lib/ but types.
 *
 * Task queues are settings (TASK_QUEUE, GPU_TASK_QUEUE in lib/config.ts): workers poll the
 * configured names, `run` starts the date on the configured CPU queue and hands the configured
 * GPU queue to the workflow in its input (`gpuTaskQueue`), which passes it on to every archive.
 * The defaults below are what a date started by hand without `gpuTaskQueue` uses.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';
import type { ScaleRound } from '../activities/autoscale.ts';
import type { FinishedStatus, QueueStatus } from '../lib/statuses.ts';

// ── Task queues (DESIGN.md §2) ───────────────────────────────────────────────────────────────

/** The defaults of TASK_QUEUE and GPU_TASK_QUEUE (lib/config.ts; a unit test keeps them equal). */
export const DEFAULT_TASK_QUEUES = {
  /** Workflows, listArchives, transfer, extract, convert, store, upload, cleanup, recordQueue. */
  cpu: 'audio-pipeline',
  /** transcribeClips only: polled by the GPU worker (a SLURM job on a cluster). */
  gpu: 'audio-pipeline-gpu',
} as const;

// ── Workflow types and ids ───────────────────────────────────────────────────────────────────

/** Workflow type names, as `temporal workflow start --type` spells them. */
export const WORKFLOW_TYPES = {
  date: 'processDate',
  archive: 'processArchive',
  autoscale: 'autoscaleGpuWorkers',
} as const;

/** One workflow per date: re-running a date attaches to it or starts its next run. */
export const dateWorkflowId = (date: string): string => `process-date-${date}`;
/** One child workflow per archive (`YYYY-MM-DD_HH-MM`). */
export const archiveWorkflowId = (archive: string): string => `process-archive-${archive}`;
/** One autoscaler per GPU queue (`-once`: a single round, beside a running one). */
export const autoscaleWorkflowId = (gpuTaskQueue: string, once = false): string =>
  `autoscale-gpu-${gpuTaskQueue}${once ? '-once' : ''}`;

export const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
export const ARCHIVE_PATTERN = /^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}$/;

// ── Inputs and results: plain JSON, so a person can start a date with the `temporal` CLI ───────

export interface ProcessDateInput {
  /** YYYY-MM-DD */
  date: string;
  /** Overrides SOURCE for this run: `local:<dir>`. */
  source?: string;
  /** How many archives are processed at once (default 2). */
  archiveConcurrency?: number;
  /** The task queue the GPU worker polls (default DEFAULT_TASK_QUEUES.gpu). */
  gpuTaskQueue?: string;
  /** See HEARTBEAT_TIMEOUT_PATTERN: for tests that kill workers; production keeps the default. */
  heartbeatTimeout?: string;
}

export interface ProcessArchiveInput {
  date: string;
  /** YYYY-MM-DD_HH-MM, the archive's name without `.tar.xz`. */
  archive: string;
  /** Passed on by processDate (default DEFAULT_TASK_QUEUES.gpu). */
  gpuTaskQueue?: string;
  /** Passed on by processDate. */
  heartbeatTimeout?: string;
}

/**
 * `heartbeatTimeout` in a workflow input overrides the long stages' heartbeat timeout (default
 * 2 minutes, workflows/retry-policies.ts): how long after a worker dies its activity is retried
 * elsewhere. The fault-injection tests (test/faults/) kill workers and use a few seconds so that
 * they finish in minutes; a shorter timeout in production would only risk retrying slow stages.
 */
export const HEARTBEAT_TIMEOUT_PATTERN = /^\d{1,4}(s|m)$/;

/** How an archive or a date ended: the finished queue statuses. */
export type Outcome = FinishedStatus;

export interface ArchiveSummary {
  archive: string;
  status: Outcome;
  error: string | null;
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  refusedEntries: number;
}

export interface DateSummary {
  date: string;
  status: Outcome;
  archives: ArchiveSummary[];
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
}

export interface AutoscaleInput {
  /** At most this many GPU jobs pending or running (default MAX_GPU_JOBS of the worker). */
  maxJobs?: number;
  /** Seconds between rounds (default 60). */
  intervalSeconds?: number;
  /** Stop after this many rounds; unset = run until cancelled. */
  rounds?: number;
}

export interface AutoscaleResult {
  rounds: number;
  /** Every job this run submitted, in order: the record of what it asked SLURM for. */
  submitted: ScaleRound['submitted'];
}

// ── Queries (no signals or updates yet) ──────────────────────────────────────────────────────

/** What the `progress` query returns while a date runs. */
export interface DateProgress {
  date: string;
  stage: 'listing' | 'transferring' | 'processing' | 'done';
  archivesTotal: number;
  archives: Record<string, ArchiveSummary | { archive: string; status: Exclude<QueueStatus, Outcome> }>;
}

/** processDate answers it; `run` polls it for its progress line. */
export const progressQuery = defineQuery<DateProgress>('progress');

// ── Search attributes (DESIGN.md §6: date and status searchable in the Web UI) ─────────────

export const AUDIO_DATE = defineSearchAttributeKey('AudioDate', SearchAttributeType.KEYWORD);
export const PIPELINE_STATUS = defineSearchAttributeKey('PipelineStatus', SearchAttributeType.KEYWORD);

/** For TestWorkflowEnvironment.createLocal({ server: { searchAttributes } }). */
export const PIPELINE_SEARCH_ATTRIBUTE_KEYS = [AUDIO_DATE, PIPELINE_STATUS];

/**
 * name → type as the `temporal` CLI's `--search-attribute NAME=TYPE` spells it: registered at
 * dev-server start, and on a reused server when missing (local/temporal-dev-server.ts).
 */
export const PIPELINE_SEARCH_ATTRIBUTES = {
  [AUDIO_DATE.name]: 'Keyword',
  [PIPELINE_STATUS.name]: 'Keyword',
} as const satisfies Record<string, 'Keyword'>;
