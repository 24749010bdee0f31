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
  // Rows are locked in id order first (as the store stage's upserts lock them), so this and a
  // concurrent store of another archive sharing a video id cannot deadlock.
  const result = await db.execute(sql`
    WITH u AS (
      SELECT * FROM unnest(${sql.param(uploads.map((u) => u.id))}::text[], ${sql.param(uploads.map((u) => u.storageUri))}::text[]) AS u(id, storage_uri)
    ), target AS (
      SELECT f.id, u.storage_uri
      FROM audio_files AS f JOIN u ON u.id = f.id
      WHERE f.date = ${date}
        AND f.archive = ${archive}
        AND (f.status NOT IN ('uploaded', 'failed') OR f.storage_uri IS DISTINCT FROM u.storage_uri)
      ORDER BY f.id
      FOR UPDATE OF f
    )
    UPDATE audio_files AS f
    SET status = CASE WHEN f.status = 'failed' THEN f.status ELSE 'uploaded' END,
        storage_uri = t.storage_uri,
        updated_at = now()
    FROM target AS t
    WHERE f.id = t.id
  `);
  return result.rowCount ?? 0;
}

/**
 * The upload stage's critical section, one transaction: locks the rows of `ids` that `archive`
 * owns (another archive of the date may own a shared video id, see store-archive.ts), lets
 * `upload` copy exactly those files, and marks them uploaded. While the locks are held no other
 * archive can take a row over (its store waits), so a stored file and its row always come from
 * the same archive. Returns what `upload` returned.
 */
export async function uploadOwnedClips(
  db: Db,
  date: string,
  archive: string,
  ids: string[],
  upload: (owned: string[]) => Promise<Upload[]>,
): Promise<Upload[]> {
  if (ids.length === 0) return [];
  return db.transaction(async (tx) => {
    const owned = await tx.execute<{ id: string }>(sql`
      SELECT id FROM audio_files
      WHERE date = ${date} AND archive = ${archive} AND id = ANY(${sql.param(ids)}::text[])
      ORDER BY id
      FOR UPDATE`);
    const uploads = await upload(owned.rows.map((r) => r.id));
    await markUploaded(tx, date, archive, uploads);
    return uploads;
  });
}
