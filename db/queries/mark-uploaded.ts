/**
 * The upload stage's write: clips whose Opus file reached the storage root get its URI and
 * status 'uploaded'. One statement for the whole archive (arrays, not one round trip per clip).
 */
import { sql } from 'drizzle-orm';
import type { Db } from './database.ts';

export interface Upload {
  id: string;
  storageUri: string;
}

/**
 * Returns how many rows changed (0 on a re-run). A clip already 'failed' keeps its status and
 * error — its failure is the news — but still records where its file went.
 */
export async function markUploaded(
  db: Db,
  date: string,
  archive: string,
  uploads: Upload[],
): Promise<number> {
  if (uploads.length === 0) return 0;
  const result = await db.execute(sql`
    UPDATE audio_files AS f
    SET status = CASE WHEN f.status = 'failed' THEN f.status ELSE 'uploaded' END,
        storage_uri = u.storage_uri,
        updated_at = now()
    FROM unnest(${sql.param(uploads.map((u) => u.id))}::text[], ${sql.param(uploads.map((u) => u.storageUri))}::text[]) AS u(id, storage_uri)
    WHERE f.id = u.id
      AND f.date = ${date}
      AND f.archive = ${archive}
      AND (f.status NOT IN ('uploaded', 'failed') OR f.storage_uri IS DISTINCT FROM u.storage_uri)
  `);
  return result.rowCount ?? 0;
}
