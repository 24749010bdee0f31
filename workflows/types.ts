/** Plain-JSON inputs and results of the workflows, so a person can start one with the `temporal` CLI. */

export interface ProcessDateInput {
  /** YYYY-MM-DD */
  date: string;
  /** Overrides SOURCE for this run: `local:<dir>` or `globus:<endpoint>:<path>`. */
  source?: string;
  /** How many archives are processed at once (default 2). */
  archiveConcurrency?: number;
  /** The task queue the GPU worker polls (default `audio-pipeline-gpu`). */
  gpuTaskQueue?: string;
}

export interface ProcessArchiveInput {
  date: string;
  /** YYYY-MM-DD_HH-MM, the archive's name without `.tar.xz`. */
  archive: string;
  gpuTaskQueue?: string;
}

export type ArchiveOutcome = 'completed' | 'completed_with_errors' | 'failed';

export interface ArchiveSummary {
  archive: string;
  status: ArchiveOutcome;
  error: string | null;
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  refusedEntries: number;
}

export type DateOutcome = 'completed' | 'completed_with_errors' | 'failed';

export interface DateSummary {
  date: string;
  status: DateOutcome;
  archives: ArchiveSummary[];
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
}

/** What the `progress` query returns while a date runs. */
export interface DateProgress {
  date: string;
  stage: 'listing' | 'transferring' | 'processing' | 'done';
  archivesTotal: number;
  archives: Record<string, ArchiveSummary | { archive: string; status: 'pending' | 'running' }>;
}

export const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
export const ARCHIVE_PATTERN = /^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}$/;

export const dateWorkflowId = (date: string): string => `process-date-${date}`;
export const archiveWorkflowId = (archive: string): string => `process-archive-${archive}`;
