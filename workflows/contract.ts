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
  discover: 'discoverDates',
} as const;

/** One workflow per date: re-running a date attaches to it or starts its next run. */
export const dateWorkflowId = (date: string): string => `process-date-${date}`;
/** One child workflow per archive (`YYYY-MM-DD_HH-MM`). */
export const archiveWorkflowId = (archive: string): string => `process-archive-${archive}`;
/** One autoscaler per GPU queue (`-once`: a single round, beside a running one). */
export const autoscaleWorkflowId = (gpuTaskQueue: string, once = false): string =>
  `autoscale-gpu-${gpuTaskQueue}${once ? '-once' : ''}`;

/** The Temporal Schedule that runs discoverDates (`audio-pipeline schedule create`). */
export const DISCOVERY_SCHEDULE_ID = 'discover-dates';
/** A one-off discovery over a range of dates (`audio-pipeline schedule backfill`). */
export const backfillWorkflowId = (from: string, to: string): string => `discover-dates-${from}-to-${to}`;

/**
 * How every start of a date's workflow behaves (CLI `run`/`retry`, the schedule's starts, the
 * monitor's retry): a start while the date runs attaches to that run (USE_EXISTING), so a date
 * never runs twice at once; a start after it closed begins a new run (ALLOW_DUPLICATE), whether
 * the last run failed or completed — a completed date is re-run when more archives arrived.
 */
export const DATE_START_POLICIES = {
  workflowIdConflictPolicy: 'USE_EXISTING',
  workflowIdReusePolicy: 'ALLOW_DUPLICATE',
} as const;

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
  /**
   * Skip the archives whose queue row is `completed` (their summary comes from the queue): a
   * retry, and a revisit of a day whose archives were still arriving, run only what is left.
   */
  onlyUnfinished?: boolean;
}

/** What discoverDates needs to start dates: the settings of whoever created the schedule. */
export interface DiscoverDatesInput {
  /** Only dates from / up to these days (YYYY-MM-DD, inclusive). */
  from?: string;
  to?: string;
  /** Overrides SOURCE: `local:<dir>`. */
  source?: string;
  taskQueue: string;
  gpuTaskQueue: string;
  archiveConcurrency: number;
  /** MAX_CONCURRENT_DATES: dates running at once, those already running included. */
  maxConcurrentDates: number;
  /** DATE_MAX_ATTEMPTS: runs of a date before a failed date is left for a person. */
  maxDateAttempts: number;
  /** DATE_RETRY_BACKOFF_S: a failed date waits this long after its first run, doubling per run. */
  retryBackoffSeconds: number;
}

export interface DiscoverDatesResult {
  /** Dates seen at the source for the first time. */
  added: string[];
  /** Finished dates with archives not processed yet (still arriving when they ran). */
  revisited: string[];
  /** Dates whose processDate this run started (or found running). */
  started: string[];
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
