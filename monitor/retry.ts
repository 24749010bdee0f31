/**
 * POST /api/dates/:date/retry: what the monitor does to retry a date, behind one small type so the
 * server does not depend on how retrying is implemented.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import type { processDate } from '../workflows/index.ts';
import { WORKFLOW_TYPES, dateWorkflowId, type ProcessDateInput } from '../workflows/contract.ts';

export interface RetryStarted {
  workflowId: string;
  runId: string;
}

export type RetryDate = (client: Client, date: string) => Promise<RetryStarted>;

/**
 * Starts the date's workflow the way `run` does: the same workflow id, and USE_EXISTING, so a
 * retry while the date is still running attaches to that run instead of starting a second one;
 * a finished date runs again (idempotent: what succeeded stays as it is).
 */
export function startDateWorkflow(config: Pick<Config, 'temporal' | 'archiveConcurrency'>): RetryDate {
  return async (client, date) => {
    const input: ProcessDateInput = {
      date,
      archiveConcurrency: config.archiveConcurrency,
      gpuTaskQueue: config.temporal.gpuTaskQueue,
    };
    const handle = await client.workflow.start<typeof processDate>(WORKFLOW_TYPES.date, {
      taskQueue: config.temporal.taskQueue,
      workflowId: dateWorkflowId(date),
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
  };
}
