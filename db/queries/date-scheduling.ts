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
  const q = processingQueue;
  const added: string[] = [];
  const revisited: string[] = [];
  for (const { date, archives } of dates) {
    const inserted = await db
      .insert(q)
      .values({ date, archive: DATE_ROW, status: 'pending' })
      .onConflictDoNothing()
      .returning({ date: q.date });
    if (inserted.length) {
      added.push(date);
      continue;
    }
    const known = await db
      .select({ archive: q.archive })
      .from(q)
      .where(and(eq(q.date, date), sql`${q.archive} <> ${DATE_ROW}`));
    const seen = new Set(known.map((r) => r.archive));
    if (archives.every((a) => seen.has(a))) continue;
    const requeued = await db
      .update(q)
      .set({ status: 'pending', finishedAt: null, updatedAt: sql`now()` })
      .where(
        and(
          eq(q.date, date),
          eq(q.archive, DATE_ROW),
          inArray(q.status, ['completed', 'completed_with_errors']),
        ),
      )
      .returning({ date: q.date });
    if (requeued.length) revisited.push(date);
  }
  return { added, revisited };
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

/** Dates whose row says running (counted against MAX_CONCURRENT_DATES). */
export async function runningDates(db: Db): Promise<string[]> {
  const q = processingQueue;
  const rows = await db
    .select({ date: q.date })
    .from(q)
    .where(and(eq(q.archive, DATE_ROW), eq(q.status, 'running')));
  return rows.map((r) => r.date);
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
