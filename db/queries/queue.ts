/**
 * processing_queue: one row per date (archive '') and per archive. Workflows (through
 * activities) write progress here; the scheduler reads pending dates; the monitor and
 * `status --json` read the shape of DESIGN.md §6.
 */
import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm';
import { FINISHED_STATUSES, type QueueStatus } from '../../lib/statuses.ts';
import { processingQueue, type QueueRow } from '../schema.ts';
import type { Db } from './database.ts';

export type { QueueStatus } from '../../lib/statuses.ts';

/** The date's own row has archive ''. */
export const DATE_ROW = '';

export interface QueueUpdate {
  date: string;
  /** null (or '') for the date's own row. */
  archive: string | null;
  status: QueueStatus;
  /** undefined keeps the recorded error; null clears it. */
  error?: string | null;
  workflowId?: string;
  runId?: string;
  filesTotal?: number;
  filesDone?: number;
  filesFailed?: number;
  /** Count one more attempt (a workflow run starting on this date or archive). */
  incrementAttempts?: boolean;
}

/**
 * Inserts or updates one queue row and returns it. `started_at` is set when the row enters
 * 'running' (not on each progress update); `finished_at` when it reaches a final status, and
 * cleared when it runs again.
 */
export async function upsertQueue(db: Db, update: QueueUpdate): Promise<QueueRow> {
  const q = processingQueue;
  const finished = (FINISHED_STATUSES as readonly QueueStatus[]).includes(update.status);
  const running = update.status === 'running';
  const optional = {
    ...(update.error !== undefined && { lastError: update.error }),
    ...(update.workflowId !== undefined && { workflowId: update.workflowId }),
    ...(update.runId !== undefined && { runId: update.runId }),
    ...(update.filesTotal !== undefined && { filesTotal: update.filesTotal }),
    ...(update.filesDone !== undefined && { filesDone: update.filesDone }),
    ...(update.filesFailed !== undefined && { filesFailed: update.filesFailed }),
  };
  const [row] = await db
    .insert(q)
    .values({
      date: update.date,
      archive: update.archive ?? DATE_ROW,
      status: update.status,
      attempts: update.incrementAttempts ? 1 : 0,
      startedAt: running ? sql`now()` : null,
      finishedAt: finished ? sql`now()` : null,
      ...optional,
    })
    .onConflictDoUpdate({
      target: [q.date, q.archive],
      set: {
        status: update.status,
        ...optional,
        attempts: update.incrementAttempts ? sql`${q.attempts} + 1` : sql`${q.attempts}`,
        startedAt: running
          ? sql`CASE WHEN ${q.status} = 'running' THEN coalesce(${q.startedAt}, now()) ELSE now() END`
          : sql`${q.startedAt}`,
        finishedAt: finished
          ? sql`CASE WHEN ${q.status} = ${update.status} THEN coalesce(${q.finishedAt}, now()) ELSE now() END`
          : null,
        updatedAt: sql`now()`,
      },
    })
    .returning();
  return row!;
}

export interface PendingDate {
  date: string;
  status: 'pending' | 'failed';
  attempts: number;
  lastError: string | null;
}

/** Dates to (re)process: pending or failed, oldest date first. */
export async function getPending(
  db: Db,
  limit: number,
  options: { maxAttempts?: number } = {},
): Promise<PendingDate[]> {
  const q = processingQueue;
  const rows = await db
    .select({ date: q.date, status: q.status, attempts: q.attempts, lastError: q.lastError })
    .from(q)
    .where(
      and(
        eq(q.archive, DATE_ROW),
        inArray(q.status, ['pending', 'failed']),
        options.maxAttempts !== undefined ? lt(q.attempts, options.maxAttempts) : undefined,
      ),
    )
    .orderBy(asc(q.date))
    .limit(limit);
  return rows as PendingDate[];
}

/** DESIGN.md §6 `status --date D --json`, key for key. */
export interface DateStatus {
  date: string;
  status: QueueStatus;
  archives: ArchiveStatus[];
}

export interface ArchiveStatus {
  archive: string;
  status: QueueStatus;
  error: string | null;
  files_total: number;
  files_done: number;
  files_failed: number;
}

/** A date without its own row (archives recorded first) gets a status derived from them. */
function deriveDateStatus(archives: ArchiveStatus[]): QueueStatus {
  const statuses = archives.map((a) => a.status);
  if (statuses.every((s) => s === 'pending')) return 'pending';
  if (statuses.some((s) => s === 'running' || s === 'pending')) return 'running';
  if (statuses.every((s) => s === 'failed')) return 'failed';
  if (statuses.some((s) => s === 'failed' || s === 'completed_with_errors')) return 'completed_with_errors';
  return 'completed';
}

/** null when nothing is known about the date. */
export async function dateStatus(db: Db, date: string): Promise<DateStatus | null> {
  const q = processingQueue;
  const rows = await db.select().from(q).where(eq(q.date, date)).orderBy(asc(q.archive));
  if (rows.length === 0) return null;
  const dateRow = rows.find((r) => r.archive === DATE_ROW);
  const archives: ArchiveStatus[] = rows
    .filter((r) => r.archive !== DATE_ROW)
    .map((r) => ({
      archive: r.archive,
      status: r.status,
      error: r.lastError,
      files_total: r.filesTotal,
      files_done: r.filesDone,
      files_failed: r.filesFailed,
    }));
  return { date, status: dateRow?.status ?? deriveDateStatus(archives), archives };
}
