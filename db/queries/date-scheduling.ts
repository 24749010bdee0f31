/**
 * What the discovery schedule (workflows/discover-dates.ts) reads and writes in processing_queue:
 * new dates enter as `pending`, finished dates with archives not processed yet go back to
 * `pending`, and failed dates come due again after a backoff computed from what each run already
 * records (`attempts`, `finished_at`), so no extra column is needed.
 */
import { and, eq, gte, inArray, lte, sql } from 'drizzle-orm';
import { processingQueue } from '../schema.ts';
import type { Db } from './database.ts';
import { DATE_ROW } from './queue.ts';

export interface DateAtSource {
  date: string;
  /** The archive names (`YYYY-MM-DD_HH-MM`) at the source now. */
  archives: string[];
}

/**
 * Records what the source holds: a date never seen becomes a pending row; a completed date
 * (with or without errors) whose source now has archives the queue has no row for — they were
 * still arriving when it ran — becomes pending again. Running and failed dates are left alone.
 */
export async function enqueueDates(
  db: Db,
  dates: DateAtSource[],
): Promise<{ added: string[]; revisited: string[] }> {
  if (dates.length === 0) return { added: [], revisited: [] };
  const q = processingQueue;
  // One read of what the queue knows of these dates, whatever their number.
  const rows = await db
    .select({ date: q.date, archive: q.archive })
    .from(q)
    .where(
      inArray(
        q.date,
        dates.map((d) => d.date),
      ),
    );
  const known = new Map<string, Set<string>>();
  for (const r of rows) known.set(r.date, (known.get(r.date) ?? new Set<string>()).add(r.archive));
  const fresh = dates.filter((d) => !known.get(d.date)?.has(DATE_ROW)).map((d) => d.date);
  const grown = dates
    .filter((d) => known.get(d.date)?.has(DATE_ROW) && d.archives.some((a) => !known.get(d.date)!.has(a)))
    .map((d) => d.date);
  const added = fresh.length
    ? await db
        .insert(q)
        .values(fresh.map((date) => ({ date, archive: DATE_ROW, status: 'pending' as const })))
        .onConflictDoNothing()
        .returning({ date: q.date })
    : [];
  const revisited = grown.length
    ? await db
        .update(q)
        .set({ status: 'pending', finishedAt: null, updatedAt: sql`now()` })
        .where(
          and(
            inArray(q.date, grown),
            eq(q.archive, DATE_ROW),
            inArray(q.status, ['completed', 'completed_with_errors']),
          ),
        )
        .returning({ date: q.date })
    : [];
  return { added: added.map((r) => r.date).sort(), revisited: revisited.map((r) => r.date).sort() };
}

export interface RetryRule {
  /** Runs of a date (q.attempts) after which a failed date is no longer retried. */
  maxAttempts: number;
  /** A failed date is due `backoffSeconds × 2^(attempts−1)` after its last run finished. */
  backoffSeconds: number;
}

/** When the failed date row is due again, as an SQL expression over the row. */
const retryDueAt = (rule: RetryRule) =>
  sql`${processingQueue.finishedAt} + make_interval(secs => ${rule.backoffSeconds}::double precision * power(2, greatest(${processingQueue.attempts} - 1, 0)))`;

/**
 * Dates to start now, oldest first: pending ones, and failed ones under `maxAttempts` whose
 * backoff has passed; within `range` (inclusive) when given.
 */
export async function dueDates(
  db: Db,
  rule: RetryRule,
  limit: number,
  range: { from?: string; to?: string } = {},
): Promise<string[]> {
  if (limit <= 0) return [];
  const q = processingQueue;
  const rows = await db
    .select({ date: q.date })
    .from(q)
    .where(
      and(
        eq(q.archive, DATE_ROW),
        range.from ? gte(q.date, range.from) : undefined,
        range.to ? lte(q.date, range.to) : undefined,
        sql`(${q.status} = 'pending' OR (${q.status} = 'failed' AND ${q.attempts} < ${rule.maxAttempts} AND ${retryDueAt(rule)} <= now()))`,
      ),
    )
    .orderBy(q.date)
    .limit(limit);
  return rows.map((r) => r.date);
}

/** Dates whose row says running (counted against MAX_CONCURRENT_DATES), with their run. */
export async function runningDates(db: Db) {
  const q = processingQueue;
  return db
    .select({ date: q.date, workflowId: q.workflowId, runId: q.runId })
    .from(q)
    .where(and(eq(q.archive, DATE_ROW), eq(q.status, 'running')));
}

/**
 * A run that ended without recording its end (terminated, timed out) leaves its row running:
 * it is marked failed, so that it frees its slot and is retried like any failed date. Only if
 * the row still names that run and still says running.
 */
export async function markDateAbandoned(db: Db, date: string, runId: string, error: string): Promise<void> {
  const q = processingQueue;
  await db
    .update(q)
    .set({ status: 'failed', lastError: error, finishedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(q.date, date), eq(q.archive, DATE_ROW), eq(q.status, 'running'), eq(q.runId, runId)));
}

/**
 * Marks a date running as soon as its workflow is started (or reset), so the next count includes
 * it. A row that already names this run is left alone: the run recorded itself, perhaps its end.
 */
export async function markDateStarted(
  db: Db,
  date: string,
  workflowId: string,
  runId: string,
): Promise<void> {
  const q = processingQueue;
  await db
    .update(q)
    .set({
      status: 'running',
      workflowId,
      runId,
      startedAt: sql`now()`,
      finishedAt: null,
      updatedAt: sql`now()`,
    })
    .where(and(eq(q.date, date), eq(q.archive, DATE_ROW), sql`${q.runId} IS DISTINCT FROM ${runId}`));
}

/** The date's archives whose last run completed cleanly: a retry skips them. */
export async function completedArchives(db: Db, date: string) {
  const q = processingQueue;
  return db
    .select({
      archive: q.archive,
      filesTotal: q.filesTotal,
      filesDone: q.filesDone,
      filesFailed: q.filesFailed,
    })
    .from(q)
    .where(and(eq(q.date, date), eq(q.status, 'completed'), sql`${q.archive} <> ${DATE_ROW}`));
}
