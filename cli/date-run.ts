import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { innermostMessage } from '../lib/errors.ts';
import { startDate } from '../temporal-client/start-date.ts';
import {
  progressQuery,
  type DateProgress,
  type DateSummary,
  type ProcessDateInput,
} from '../workflows/contract.ts';
import { ProgressLine, bar } from './progress-line.ts';
import { archiveStage } from './stage-progress.ts';

/**
 * Starts the date's workflow on `taskQueue` (config's TASK_QUEUE; the input carries the GPU
 * queue), or attaches to it when it is already running (same workflow id), shows progress from
 * its `progress` query until it ends, and returns its summary.
 */
export async function runDate(
  client: Client,
  input: ProcessDateInput,
  options: {
    taskQueue: string;
    pollMs?: number;
    out?: NodeJS.WriteStream;
    /** Aborted (Ctrl-C): the calls in flight are cancelled, so the connection can close cleanly. */
    signal?: AbortSignal;
  },
): Promise<DateSummary> {
  const { signal } = options;
  const call = <T>(fn: () => Promise<T>): Promise<T> => (signal ? client.withAbortSignal(signal, fn) : fn());
  const handle = await startDate(client, input, options.taskQueue);
  const line = new ProgressLine(options.out);
  let finished = false;
  const poll = (async () => {
    while (!finished && !signal?.aborted) {
      const progress = await call(() => handle.query(progressQuery)).catch(() => null);
      if (progress && !finished)
        line.update(
          await describeProgress(progress, (a) => call(() => archiveStage(client, a)).catch(() => null)),
        );
      await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
    }
  })();
  try {
    return (await call(() => handle.result())) as DateSummary;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      throw new Error(`workflow ${handle.workflowId} failed: ${innermostMessage(err)}`);
    }
    throw err;
  } finally {
    finished = true;
    await poll;
    line.done();
  }
}

export async function describeProgress(
  p: DateProgress,
  stageOf: (archive: string) => Promise<string | null> = async () => null,
): Promise<string> {
  const archives = Object.values(p.archives);
  const ended = archives.filter((a) => a.status !== 'pending' && a.status !== 'running');
  const running = await Promise.all(
    archives
      .filter((a) => a.status === 'running')
      .map(async (a) => {
        const stage = await stageOf(a.archive);
        return stage ? `${a.archive.slice(11)} ${stage}` : a.archive.slice(11);
      }),
  );
  const files = ended.reduce((n, a) => n + ('filesDone' in a ? a.filesDone : 0), 0);
  const failed = ended.reduce((n, a) => n + ('filesFailed' in a ? a.filesFailed : 0), 0);
  const tail = running.length ? `  running ${running.join(', ')}` : '';
  return `${p.date} ${p.stage.padEnd(12)} archives ${bar(ended.length, p.archivesTotal)}  clips ok ${files} failed ${failed}${tail}`;
}
