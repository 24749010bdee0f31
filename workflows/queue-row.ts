import { CancellationScope, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/index.ts';
import { AUDIO_DATE, PIPELINE_STATUS } from './contract.ts';
import { rootMessage } from './failure-message.ts';
import { recordActivity } from './retry-policies.ts';

const { recordQueue } = proxyActivities<CpuActivities>(recordActivity);
type QueueUpdate = Parameters<CpuActivities['recordQueue']>[0];

/** The processing_queue row a date or archive workflow keeps up to date (archive null: the date's). */
export type QueueRow = Pick<QueueUpdate, 'date' | 'archive' | 'workflowId' | 'runId'>;

/** Marks the row running (one more attempt) and tags the workflow for the Web UI. */
export async function recordStarted(row: QueueRow): Promise<void> {
  upsertSearchAttributes([
    { key: AUDIO_DATE, value: row.date },
    { key: PIPELINE_STATUS, value: 'running' },
  ]);
  await recordQueue({ ...row, status: 'running', incrementAttempts: true });
}

/** Progress while running (the number of clips once known). */
export async function recordRunning(row: QueueRow, filesTotal: number): Promise<void> {
  await recordQueue({ ...row, status: 'running', filesTotal });
}

/** The outcome of a run that got to its end, with its counts (from its summary; nothing else is sent). */
export async function recordOutcome(
  row: QueueRow,
  outcome: Required<Pick<QueueUpdate, 'status' | 'error' | 'filesTotal' | 'filesDone' | 'filesFailed'>>,
): Promise<void> {
  const { status, error, filesTotal, filesDone, filesFailed } = outcome;
  upsertSearchAttributes([{ key: PIPELINE_STATUS, value: status }]);
  await recordQueue({ ...row, status, error, filesTotal, filesDone, filesFailed });
}

/** A failed run — recorded even when it was cancelled, so that its row never stays `running`. */
export async function recordFailure(row: QueueRow, err: unknown): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    upsertSearchAttributes([{ key: PIPELINE_STATUS, value: 'failed' }]);
    await recordQueue({ ...row, status: 'failed', error: rootMessage(err) });
  });
}
