import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { dateWorkflowId } from '../workflows/contract.ts';

export type ResetPoint = 'last-failure' | 'first';
type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

/**
 * Resets the date's latest run with Temporal's reset API (what `temporal workflow reset` does):
 * a new run replays the history up to the chosen workflow task and carries on from there,
 * so the steps after it run again.
 * - `first`: from the first workflow task — the whole date again (`--type FirstWorkflowTask`);
 * - `last-failure`: from the workflow task that started the last activity or archive that
 *   failed (`--event-id` of that task's WorkflowTaskCompleted): that archive runs again, what
 *   finished before it is kept.
 * The old run is terminated by the server if it was still running. Returns the new run's id.
 */
export async function resetDate(
  client: Client,
  date: string,
  to: ResetPoint,
): Promise<{ workflowId: string; runId: string; eventId: number }> {
  const workflowId = dateWorkflowId(date);
  const handle = client.workflow.getHandle(workflowId);
  const { runId } = await handle.describe();
  const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const eventId = to === 'first' ? firstWorkflowTask(events) : lastFailureTask(events, workflowId);
  const response = await client.workflowService.resetWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId, runId },
    reason: `audio-pipeline reset --date ${date} --to ${to}`,
    workflowTaskFinishEventId: eventId,
    requestId: randomUUID(),
  });
  return { workflowId, runId: response.runId, eventId: Number(eventId) };
}

const completedTasks = (events: HistoryEvent[]) =>
  events.filter((e) => e.workflowTaskCompletedEventAttributes);

function firstWorkflowTask(events: HistoryEvent[]): NonNullable<HistoryEvent['eventId']> {
  const first = completedTasks(events)[0];
  if (!first?.eventId) throw new Error('the run has no completed workflow task to reset to');
  return first.eventId;
}

/** The event that scheduled or started whatever failed last (an activity or a child workflow). */
function failedStepStart(e: HistoryEvent): number | undefined {
  const scheduled =
    e.activityTaskFailedEventAttributes?.scheduledEventId ??
    e.activityTaskTimedOutEventAttributes?.scheduledEventId;
  const initiated =
    e.childWorkflowExecutionFailedEventAttributes?.initiatedEventId ??
    e.childWorkflowExecutionTimedOutEventAttributes?.initiatedEventId ??
    e.childWorkflowExecutionTerminatedEventAttributes?.initiatedEventId;
  const id = scheduled ?? initiated;
  return id == null ? undefined : Number(id);
}

function lastFailureTask(events: HistoryEvent[], workflowId: string): NonNullable<HistoryEvent['eventId']> {
  const failed = [...events]
    .reverse()
    .map(failedStepStart)
    .find((id) => id !== undefined);
  if (failed === undefined)
    throw new Error(`${workflowId}: no failed activity or archive in its latest run; use --to first`);
  const task = completedTasks(events)
    .filter((e) => Number(e.eventId) < failed)
    .at(-1);
  if (!task?.eventId) throw new Error(`${workflowId}: no workflow task before event ${failed}`);
  return task.eventId;
}
