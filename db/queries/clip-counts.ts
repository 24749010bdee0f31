/** Clip counts per status for one date (or every date), for run summaries and the monitor. */
import { sql } from 'drizzle-orm';
import { CLIP_STATUSES, type ClipStatus } from '../../lib/statuses.ts';
import type { Db } from './database.ts';

/**
 * Every status is present (0 when none), so callers can sum and print without guards.
 * `date` undefined: every date the database holds.
 */
export async function countsByStatus(db: Db, date: string | undefined): Promise<Record<ClipStatus, number>> {
  const counts = Object.fromEntries(CLIP_STATUSES.map((s) => [s, 0])) as Record<ClipStatus, number>;
  const result = await db.execute<{ status: ClipStatus; n: number }>(sql`
    SELECT status, count(*)::int AS n FROM audio_files
    ${date === undefined ? sql`` : sql`WHERE date = ${date}`}
    GROUP BY status
  `);
  for (const row of result.rows) counts[row.status] = row.n;
  return counts;
}
