import {
  ApplicationFailure,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { CpuActivities, GpuActivities } from '../activities/index.ts';
import type { ExtractSummary } from '../activities/extract.ts';
import { recordFailure, recordOutcome, recordRunning, recordStarted, type QueueRow } from './queue-row.ts';
import { longActivityWith, shortActivity } from './retry-policies.ts';
import {
  ARCHIVE_PATTERN,
  DEFAULT_TASK_QUEUES,
  HEARTBEAT_TIMEOUT_PATTERN,
  type ArchiveSummary,
  type ProcessArchiveInput,
} from './contract.ts';

const { cleanupArchive } = proxyActivities<CpuActivities>(shortActivity);

/** The CPU stages, and the GPU stage on its own task queue, polled by the GPU worker (a SLURM job). */
function stageActivities(gpuTaskQueue: string, heartbeatTimeout: string | undefined) {
  const long = longActivityWith(heartbeatTimeout);
  // proxyActivities returns a Proxy: its functions are taken by name, not spread.
  const { extractArchive, convertClips, storeArchive, uploadClips } = proxyActivities<CpuActivities>(long);
  const { transcribeClips } = gpuActivities(gpuTaskQueue, long);
  return { extractArchive, convertClips, transcribeClips, storeArchive, uploadClips };
}

function gpuActivities(taskQueue: string, long: ActivityOptions) {
  return proxyActivities<GpuActivities>({
    ...long,
    taskQueue,
    // A GPU job may wait in SLURM's queue before its worker polls: allow for it.
    scheduleToStartTimeout: '12h',
    // A pilot job near its walltime hands its archive over (a retryable 'WorkerLeaving'
    // failure, see activities/transcribe.ts): each hand-over is an attempt, so allow many.
    retry: { ...long.retry, maximumAttempts: 20 },
  });
}

/**
 * One archive: extract → convert → transcribe → store → upload → cleanup. Every stage reads and
 * writes the archive's staging folder and returns counts; clips that fail a stage keep their
 * error and are stored as `failed`, the rest go on.
 */
export async function processArchive(input: ProcessArchiveInput): Promise<ArchiveSummary> {
  const { date, archive } = input;
  if (!ARCHIVE_PATTERN.test(archive ?? '') || !archive.startsWith(date)) {
    throw ApplicationFailure.nonRetryable(
      `archive must be ${date}_HH-MM, got ${JSON.stringify(archive)}`,
      'BadInputError',
    );
  }
  checkHeartbeatTimeout(input.heartbeatTimeout);
  const { extractArchive, convertClips, transcribeClips, storeArchive, uploadClips } = stageActivities(
    input.gpuTaskQueue ?? DEFAULT_TASK_QUEUES.gpu,
    input.heartbeatTimeout,
  );
  const { workflowId, runId } = workflowInfo();
  const row: QueueRow = { date, archive, workflowId, runId };
  await recordStarted(row);

  try {
    const ref = { date, archive };
    const extracted = await extractArchive(ref);
    await recordRunning(row, extracted.clips);
    await convertClips(ref);
    await transcribeClips(ref);
    const stored = await storeArchive(ref);
    await uploadClips(ref);
    await cleanupArchive(ref);

    const clean =
      stored.failed === 0 && extracted.refusedCount === 0 && extracted.metadataProblems.length === 0;
    const summary: ArchiveSummary = {
      archive,
      status: clean ? 'completed' : 'completed_with_errors',
      error: clean ? null : describe(stored.failed, extracted),
      filesTotal: stored.total,
      filesDone: stored.total - stored.failed,
      filesFailed: stored.failed,
      refusedEntries: extracted.refusedCount,
    };
    await recordOutcome(row, summary);
    return summary;
  } catch (err) {
    await recordFailure(row, err);
    throw err;
  }
}

/** A malformed override fails the workflow at once, naming the field. */
export function checkHeartbeatTimeout(value: string | undefined): void {
  if (value !== undefined && !HEARTBEAT_TIMEOUT_PATTERN.test(value)) {
    throw ApplicationFailure.nonRetryable(
      `heartbeatTimeout must look like 10s or 2m, got ${JSON.stringify(value)}`,
      'BadInputError',
    );
  }
}

function describe(failedClips: number, extracted: ExtractSummary): string {
  const { refused, refusedCount, metadataProblems } = extracted;
  const parts: string[] = [];
  if (metadataProblems.length) parts.push(`metadata: ${metadataProblems.join('; ')}`);
  if (failedClips) parts.push(`${failedClips} clip(s) failed`);
  if (refusedCount) {
    const listed = refused.map((r) => `${r.entry} (${r.reason})`).join('; ');
    const more = refusedCount > refused.length ? `; and ${refusedCount - refused.length} more` : '';
    parts.push(`refused ${refusedCount} unsafe entr${refusedCount === 1 ? 'y' : 'ies'}: ${listed}${more}`);
  }
  return parts.join('; ');
}
