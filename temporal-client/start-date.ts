import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { processDate } from '../workflows/index.ts';
import {
  DATE_START_POLICIES,
  WORKFLOW_TYPES,
  dateWorkflowId,
  type ProcessDateInput,
} from '../workflows/contract.ts';

/**
 * Starts the date's workflow, or returns the run already in progress: every start of a date —
 * `run`, `retry`, the discovery schedule, the monitor — goes through here, so one date never
 * has two runs at once (DATE_START_POLICIES in workflows/contract.ts).
 */
export async function startDate(
  client: Client,
  input: ProcessDateInput,
  taskQueue: string,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof processDate>> {
  return client.workflow.start<typeof processDate>(WORKFLOW_TYPES.date, {
    taskQueue,
    workflowId: dateWorkflowId(input.date),
    args: [input],
    ...DATE_START_POLICIES,
  });
}
