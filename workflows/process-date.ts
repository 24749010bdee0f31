import {
  ApplicationFailure,
  isCancellation,
  ParentClosePolicy,
  executeChild,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CpuActivities } from '../activities/index.ts';
import { rootMessage } from './failure-message.ts';
import { checkHeartbeatTimeout, processArchive } from './process-archive.ts';
import { recordFailure, recordOutcome, recordStarted, type QueueRow } from './queue-row.ts';
import { longActivityWith, shortActivity } from './retry-policies.ts';
import {
  DATE_PATTERN,
  archiveWorkflowId,
  progressQuery,
  type ArchiveSummary,
  type DateProgress,
  type DateSummary,
  type ProcessDateInput,
} from './contract.ts';

const { listArchives, completedArchiveSummaries } = proxyActivities<CpuActivities>(shortActivity);

/**
 * One date: list its archives, transfer them to staging, then one child workflow per archive,
 * `archiveConcurrency` at a time. A failed archive fails alone; the date ends
 * `completed_with_errors`.
 */
export async function processDate(input: ProcessDateInput): Promise<DateSummary> {
  const { date } = input;
  if (!DATE_PATTERN.test(date ?? '')) {
    throw ApplicationFailure.nonRetryable(
      `date must be YYYY-MM-DD, got ${JSON.stringify(date)}`,
      'BadInputError',
    );
  }
  checkHeartbeatTimeout(input.heartbeatTimeout);
  const { transferArchives } = proxyActivities<CpuActivities>(longActivityWith(input.heartbeatTimeout));
  const info = workflowInfo();
  const progress: DateProgress = { date, stage: 'listing', archivesTotal: 0, archives: {} };
  setHandler(progressQuery, () => progress);
  const row: QueueRow = { date, archive: null, workflowId: info.workflowId, runId: info.runId };
  await recordStarted(row);

  try {
    const { archives } = await listArchives({ date, source: input.source });
    progress.archivesTotal = archives.length;
    for (const a of archives) progress.archives[a.name] = { archive: a.name, status: 'pending' };

    // A new step, only with onlyUnfinished (absent from the inputs of runs started before it)
    // and behind a patch marker as docs/workflows.md asks.
    const done =
      input.onlyUnfinished && patched('skip-completed-archives')
        ? await completedArchiveSummaries({ date })
        : [];
    const skipped = new Set(done.map((a) => a.archive));
    for (const a of done) if (a.archive in progress.archives) progress.archives[a.archive] = a;
    const names = archives.map((a) => a.name).filter((name) => !skipped.has(name));

    progress.stage = 'transferring';
    await transferArchives({ date, source: input.source, archives: names });

    progress.stage = 'processing';
    const results: ArchiveSummary[] = new Array(names.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < names.length) {
        const i = next++;
        const archive = names[i];
        progress.archives[archive] = { archive, status: 'running' };
        results[i] = await runArchive(date, archive, input);
        progress.archives[archive] = results[i];
      }
    };
    const lanes = Math.max(1, Math.min(input.archiveConcurrency ?? 2, names.length || 1));
    await Promise.all(Array.from({ length: lanes }, lane));

    const summary = summarize(date, [...done.filter((a) => a.archive in progress.archives), ...results]);
    progress.stage = 'done';
    await recordOutcome(row, {
      ...summary,
      error: summary.status === 'completed' ? null : describeFailures(summary),
    });
    return summary;
  } catch (err) {
    await recordFailure(row, err);
    throw err;
  }
}

/** Runs one archive's child workflow; its failure becomes a failed summary, not the date's failure. */
async function runArchive(date: string, archive: string, input: ProcessDateInput): Promise<ArchiveSummary> {
  const { gpuTaskQueue, heartbeatTimeout } = input;
  try {
    return await executeChild(processArchive, {
      workflowId: archiveWorkflowId(archive),
      args: [{ date, archive, gpuTaskQueue, heartbeatTimeout }],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
    });
  } catch (err) {
    if (isCancellation(err)) throw err; // the date was cancelled: stop, do not count it as a failed archive
    return {
      archive,
      status: 'failed',
      error: rootMessage(err),
      filesTotal: 0,
      filesDone: 0,
      filesFailed: 0,
      refusedEntries: 0,
    };
  }
}

function summarize(date: string, archives: ArchiveSummary[]): DateSummary {
  const sum = (f: (a: ArchiveSummary) => number) => archives.reduce((n, a) => n + f(a), 0);
  const clean = archives.every((a) => a.status === 'completed');
  const noneUsable = archives.length > 0 && archives.every((a) => a.status === 'failed');
  return {
    date,
    status: clean ? 'completed' : noneUsable ? 'failed' : 'completed_with_errors',
    archives,
    filesTotal: sum((a) => a.filesTotal),
    filesDone: sum((a) => a.filesDone),
    filesFailed: sum((a) => a.filesFailed),
  };
}

function describeFailures(summary: DateSummary): string {
  const failed = summary.archives.filter((a) => a.status === 'failed').map((a) => a.archive);
  const parts = [];
  if (failed.length) parts.push(`${failed.length} archive(s) failed: ${failed.join(', ')}`);
  if (summary.filesFailed) parts.push(`${summary.filesFailed} clip(s) failed`);
  return parts.join('; ') || 'some archives had refused entries';
}
