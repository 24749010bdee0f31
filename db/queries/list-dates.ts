import { desc, eq } from 'drizzle-orm';
import { processingQueue } from '../schema.ts';
import type { Db } from './database.ts';
import { DATE_ROW, type QueueStatus } from './queue.ts';

export interface DateRow {
  date: string;
  status: QueueStatus;
  error: string | null;
  files_total: number;
  files_done: number;
  files_failed: number;
}

/** Every date the queue knows, newest first (`status` without --date). */
export async function listDates(db: Db, limit = 1000): Promise<DateRow[]> {
  const q = processingQueue;
  const rows = await db
    .select({
      date: q.date,
      status: q.status,
      error: q.lastError,
      files_total: q.filesTotal,
      files_done: q.filesDone,
      files_failed: q.filesFailed,
    })
    .from(q)
    .where(eq(q.archive, DATE_ROW))
    .orderBy(desc(q.date))
    .limit(limit);
  return rows.map((r) => ({ ...r, date: String(r.date) })) as DateRow[];
}
