import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BadInputError, ConfigError } from '../errors.ts';
import type { GlobusSource } from '../source/parse.ts';
import { pickArchives, type ArchiveListing } from '../source/local.ts';
import { datesOfArchives } from '../source/local-dates.ts';
import { GlobusTransientError, type GlobusClient, type TaskDocument, type TransferItem } from './client.ts';

/**
 * A date's archives in the source folder on the Globus collection (`ls`, filtered to names that
 * start with the date, as a local source's folder is read). Misnamed entries go to `ignored`.
 */
export async function listGlobusArchives(
  client: GlobusClient,
  source: GlobusSource,
  date: string,
  ignored: string[] = [],
  signal?: AbortSignal,
): Promise<ArchiveListing[]> {
  const entries = await client.ls(source.endpoint, source.path, `name:~${date}*`, signal);
  return pickArchives(
    entries.map((e) => ({ name: e.name, bytes: e.size, isFile: e.type === 'file' })),
    date,
    ignored,
  );
}

/** Every date with archives in the source folder on the collection (the schedule's discovery). */
export async function listGlobusDates(
  client: GlobusClient,
  source: GlobusSource,
  range: { from?: string; to?: string } = {},
  signal?: AbortSignal,
): Promise<{ date: string; archives: string[] }[]> {
  const entries = await client.ls(source.endpoint, source.path, 'name:~*.tar.xz', signal);
  return datesOfArchives(
    entries.filter((e) => e.type === 'file').map((e) => e.name),
    range,
  );
}

/** What a transfer records in its heartbeat, so that a retried activity resumes the same task. */
export interface TransferProgress {
  submissionId?: string;
  taskId?: string;
  done?: number;
  total?: number;
}

export interface GlobusTransferRequest {
  source: GlobusSource;
  destinationEndpoint: string;
  label: string;
  items: TransferItem[];
  /** The previous attempt's heartbeat: its task is resumed instead of submitting another. */
  previous?: TransferProgress;
  /** Called with every change worth recording (submission id, task id, files done). */
  record: (progress: TransferProgress) => void;
  pollMs: number;
  signal?: AbortSignal;
  /**
   * Whether an abort of `signal` means "stop the transfer" (the workflow was cancelled) rather
   * than "this attempt ends" (timed out, worker shutting down: the retry resumes the task).
   */
  cancelTaskOnAbort: () => boolean;
}

/**
 * Nice statuses of an ACTIVE task that Globus would retry until the task's deadline, but that no
 * waiting fixes: the task is cancelled and the activity fails without retrying.
 * https://docs.globus.org/api/transfer/task/#task_fields
 */
const HOPELESS: Record<string, (message: string) => Error> = {
  PERMISSION_DENIED: (m) =>
    new ConfigError(`${m} (the client may not read the source or write GLOBUS_DEST_PATH)`),
  FILE_NOT_FOUND: (m) => new BadInputError(m),
  NOT_FOUND: (m) => new BadInputError(m),
};

/**
 * Runs one Globus transfer task to completion: submits it (submission id first, so that
 * submitting again after a crash creates no second task) or resumes the previous attempt's task,
 * polls it, and reports progress through `record`. When `signal` aborts (the activity was
 * cancelled) the task is cancelled at Globus too. A task that failed is resubmitted by the next
 * attempt (a new task); a paused or inactive task fails this attempt retryably, and the next
 * attempt polls the same task again.
 */
export async function runGlobusTransfer(
  client: GlobusClient,
  request: GlobusTransferRequest,
): Promise<TaskDocument> {
  const { signal } = request;
  let progress: TransferProgress = { ...request.previous };
  let taskId = progress.taskId;
  if (taskId) {
    const previous = await client.task(taskId, signal).catch((err: unknown) => {
      if (err instanceof BadInputError) return null; // gone (Globus forgets old tasks): submit anew
      throw err;
    });
    if (!previous || previous.status === 'FAILED') progress = {};
    taskId = progress.taskId;
  }
  if (!taskId) {
    const submissionId = progress.submissionId ?? (await client.submissionId(signal));
    progress = { submissionId, total: request.items.length, done: 0 };
    request.record(progress);
    taskId = await client.submitTransfer(
      {
        submissionId,
        sourceEndpoint: request.source.endpoint,
        destinationEndpoint: request.destinationEndpoint,
        label: request.label,
        items: request.items,
      },
      signal,
    );
    progress = { ...progress, taskId };
    request.record(progress);
  }
  const id = taskId;
  try {
    for (;;) {
      const task = await client.task(id, signal);
      progress = { ...progress, done: task.files_transferred + task.files_skipped, total: task.files };
      request.record(progress);
      if (task.status === 'SUCCEEDED') return task;
      if (task.status === 'FAILED') {
        const fatal = task.fatal_error;
        const message = `Globus task ${id} (${request.label}) failed: ${fatal?.code ?? 'FAILED'}: ${fatal?.description ?? 'no reason given'}`;
        throw HOPELESS[fatal?.code ?? '']?.(message) ?? new GlobusTransientError(message);
      }
      const hopeless = task.nice_status ? HOPELESS[task.nice_status] : undefined;
      if (hopeless) {
        const why = await lastError(client, id, signal);
        await client.cancel(id).catch(() => undefined);
        throw hopeless(
          `Globus task ${id} (${request.label}) cannot go on: ${task.nice_status}${why} (task cancelled)`,
        );
      }
      if (task.is_paused || task.status === 'INACTIVE') {
        const why = await lastError(client, id, signal, false);
        throw new GlobusTransientError(
          `Globus task ${id} (${request.label}) is ${task.is_paused ? 'paused' : 'inactive (the collection needs its credentials renewed or activation)'}: ${task.nice_status ?? ''}${why}; it is polled again on retry`,
        );
      }
      await sleep(request.pollMs, undefined, { signal });
    }
  } catch (err) {
    if (signal?.aborted) {
      // The workflow was cancelled: stop the task too, best effort (the signal is spent).
      if (request.cancelTaskOnAbort()) await client.cancel(id).catch(() => undefined);
      throw signal.reason;
    }
    throw err;
  }
}

/** The task's latest error event (or latest event of any kind), as ` — description: details`. */
async function lastError(
  client: GlobusClient,
  taskId: string,
  signal?: AbortSignal,
  errorsOnly = true,
): Promise<string> {
  const events = await client.taskEvents(taskId, signal).catch(() => []);
  const error = events.find((e) => e.is_error || !errorsOnly);
  return error ? ` — ${error.description}${error.details ? `: ${error.details.slice(0, 300)}` : ''}` : '';
}

/** A folder path on a Globus collection from a path relative to it (always `/`-separated). */
export function globusPath(root: string, relative: string): string {
  return path.posix.join(root, ...relative.split(path.sep));
}
