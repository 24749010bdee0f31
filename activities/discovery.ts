import { Context } from '@temporalio/activity';
import {
  completedArchives,
  dueDates,
  enqueueDates,
  markDateStarted,
  runningDates,
} from '../db/queries/date-scheduling.ts';
import { listLocalDates } from '../lib/source/local-dates.ts';
import { parseSource } from '../lib/source/parse.ts';
import { startDate } from '../temporal-client/start-date.ts';
import type { ArchiveSummary, DiscoverDatesInput } from '../workflows/contract.ts';
import type { DatabaseContext } from './context.ts';
import { runStage } from './run-stage.ts';

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
        const running = await runningDates(db);
        const rule = { maxAttempts: input.maxDateAttempts, backoffSeconds: input.retryBackoffSeconds };
        const free = input.maxConcurrentDates - running.length;
        const due = await dueDates(db, rule, free, { from: input.from, to: input.to });
        const { client } = Context.current();
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
