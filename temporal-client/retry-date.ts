import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { startDate } from './start-date.ts';

/**
 * Re-runs what did not succeed on a date: a new run of its workflow that skips the archives
 * whose last run completed cleanly, so failed archives and archives with failed clips run again
 * (a clip that already succeeded is left as it is by the stages). When the date is running, the
 * call attaches to that run instead (nothing runs twice). `audio-pipeline retry` and the
 * monitor's `POST /api/dates/:date/retry` call this.
 */
export async function retryDate(
  client: Client,
  config: Pick<Config, 'temporal' | 'archiveConcurrency'>,
  date: string,
  options: { source?: string } = {},
): Promise<{ workflowId: string; runId: string }> {
  const handle = await startDate(
    client,
    {
      date,
      source: options.source,
      archiveConcurrency: config.archiveConcurrency,
      gpuTaskQueue: config.temporal.gpuTaskQueue,
      onlyUnfinished: true,
    },
    config.temporal.taskQueue,
  );
  return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
}
