import type { Client, ScheduleDescription } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import type { discoverDates } from '../workflows/index.ts';
import {
  DISCOVERY_SCHEDULE_ID,
  WORKFLOW_TYPES,
  backfillWorkflowId,
  type DiscoverDatesInput,
  type DiscoverDatesResult,
} from '../workflows/contract.ts';

/** `--every`: a number and s, m, h or d (Temporal's duration strings). */
export const EVERY_PATTERN = /^\d{1,5}[smhd]$/;
type Every = `${number}${'s' | 'm' | 'h' | 'd'}`;

/** The discovery input from the settings of whoever creates the schedule or a backfill. */
export function discoveryInput(
  config: Pick<Config, 'temporal' | 'archiveConcurrency' | 'scheduling'>,
  range: { from?: string; to?: string; source?: string } = {},
): DiscoverDatesInput {
  return {
    ...range,
    taskQueue: config.temporal.taskQueue,
    gpuTaskQueue: config.temporal.gpuTaskQueue,
    archiveConcurrency: config.archiveConcurrency,
    ...config.scheduling,
  };
}

/**
 * Creates the schedule that runs discoverDates every `every`. Overlap SKIP: a tick is short and
 * reads the queue afresh, so a tick that comes while the last one still runs has nothing to add
 * — BUFFER_ONE would only queue a redundant run behind it, ALLOW_ALL could let two ticks count
 * the same free slots. The catch-up window of one interval means that after an outage one run
 * makes up for every missed tick, instead of a burst.
 */
export async function createDiscoverySchedule(
  client: Client,
  input: DiscoverDatesInput,
  every: string,
): Promise<void> {
  await client.schedule.create({
    scheduleId: DISCOVERY_SCHEDULE_ID,
    spec: { intervals: [{ every: every as Every }] },
    action: {
      type: 'startWorkflow',
      workflowType: WORKFLOW_TYPES.discover,
      workflowId: DISCOVERY_SCHEDULE_ID,
      taskQueue: input.taskQueue,
      args: [input],
    },
    policies: { overlap: 'SKIP', catchupWindow: every as Every },
  });
}

export const discoverySchedule = (client: Client) => client.schedule.getHandle(DISCOVERY_SCHEDULE_ID);

/** A human-readable account of the schedule (`schedule describe`). */
export function describeSchedule(d: ScheduleDescription): string {
  const action = d.action.type === 'startWorkflow' ? d.action : undefined;
  const every = d.spec.intervals?.map((i) => `${Number(i.every) / 1000}s`).join(', ');
  const last = d.info.recentActions.at(-1);
  return [
    `schedule ${d.scheduleId}: ${d.state.paused ? `paused${d.state.note ? ` (${d.state.note})` : ''}` : 'active'}, every ${every}`,
    `  runs ${action?.workflowType} on ${action?.taskQueue} with ${JSON.stringify(action?.args?.[0])}`,
    `  next: ${d.info.nextActionTimes[0]?.toISOString() ?? '—'}`,
    `  last: ${last ? `${last.takenAt.toISOString()} (${last.action.workflow.workflowId})` : '—'}`,
    `  running now: ${d.info.runningActions.length}; taken ${d.info.numActionsTaken}, skipped (overlap) ${d.info.numActionsSkippedOverlap}`,
  ].join('\n');
}

/**
 * Discovers and starts the dates from `from` to `to` now, once, as its own discoverDates run:
 * dates beyond MAX_CONCURRENT_DATES stay pending in the queue for the schedule's next ticks.
 */
export async function backfillDates(
  client: Client,
  input: DiscoverDatesInput & { from: string; to: string },
): Promise<DiscoverDatesResult> {
  return client.workflow.execute<typeof discoverDates>(WORKFLOW_TYPES.discover, {
    taskQueue: input.taskQueue,
    workflowId: backfillWorkflowId(input.from, input.to),
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
}
