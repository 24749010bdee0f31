import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  completedArchives,
  dueDates,
  enqueueDates,
  markDateAbandoned,
  markDateStarted,
  runningDates,
} from '../db/queries/date-scheduling.ts';
import { listLocalDates } from '../lib/source/local-dates.ts';
import { parseSource } from '../lib/source/parse.ts';
import { startDate } from '../temporal-client/start-date.ts';
import type { ArchiveSummary, DiscoverDatesInput } from '../workflows/contract.ts';
import type { DatabaseContext } from './context.ts';
import { runStage } from './run-stage.ts';

/**
 * How a date's run ended if it ended without recording it in the queue: terminated or timed out
 * (a completed, failed or cancelled run records its own end), or gone from the server; null
 * while the date runs — in that run or in a later one (`temporal workflow reset` starts one).
 */
async function endedUnrecorded(client: Client, workflowId: string, runId: string): Promise<string | null> {
  try {
    const latest = await client.workflow.getHandle(workflowId).describe();
    if (latest.status.name === 'RUNNING') return null;
    const { status } = await client.workflow.getHandle(workflowId, runId).describe();
    return status.name === 'TERMINATED' || status.name === 'TIMED_OUT'
      ? `workflow ${status.name.toLowerCase().replace('_', ' ')} before it recorded its end`
      : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'workflow run not found on the server';
    throw err;
  }
}

export function createDiscovery({ config, db }: DatabaseContext) {
  return {
    /** Enqueues the source's new dates, and finished dates with archives that arrived since. */
    async enqueueSourceDates(input: { source?: string; from?: string; to?: string }) {
      return runStage(async () => {
        const source = input.source ? parseSource(input.source) : config.source;
        return enqueueDates(db, await listLocalDates(source.dir, input));
      });
    },

    /**
     * Starts processDate for due dates (pending, or failed with their backoff passed) while
     * fewer than maxConcurrentDates run. A start that finds the date running attaches to it
     * (startDate's USE_EXISTING), so a date started by a person meanwhile is not run twice.
     */
    async startDueDates(input: DiscoverDatesInput): Promise<{ started: string[] }> {
      return runStage(async () => {
        const { client } = Context.current();
        let busy = 0;
        for (const row of await runningDates(db)) {
          const ended =
            row.workflowId && row.runId ? await endedUnrecorded(client, row.workflowId, row.runId) : null;
          if (ended) await markDateAbandoned(db, row.date, row.runId!, ended);
          else busy++;
        }
        const rule = { maxAttempts: input.maxDateAttempts, backoffSeconds: input.retryBackoffSeconds };
        const free = input.maxConcurrentDates - busy;
        const due = await dueDates(db, rule, free, { from: input.from, to: input.to });
        for (const date of due) {
          const handle = await startDate(
            client,
            {
              date,
              source: input.source,
              archiveConcurrency: input.archiveConcurrency,
              gpuTaskQueue: input.gpuTaskQueue,
              onlyUnfinished: true,
            },
            input.taskQueue,
          );
          await markDateStarted(db, date, handle.workflowId, handle.firstExecutionRunId);
        }
        return { started: due };
      });
    },

    /** The date's archives that completed cleanly, as summaries: a retry skips them. */
    async completedArchiveSummaries(input: { date: string }): Promise<ArchiveSummary[]> {
      const rows = await completedArchives(db, input.date);
      return rows.map((r) => ({ ...r, status: 'completed', error: null, refusedEntries: 0 }));
    },
  };
}
