/**
 * `export --date D`: one row per clip of the date with exactly the keys of DESIGN.md §6, read
 * page by page (keyset on archive, id) so a date of a million clips never sits in memory.
 */
import { sql } from 'drizzle-orm';
import type { ClipStatus } from '../../lib/manifest.ts';
import type { Db } from './database.ts';

export interface ExportRow {
  id: string;
  date: string;
  archive: string;
  status: ClipStatus;
  error: string | null;
  language: string | null;
  language_prob: number | null;
  text: string | null;
  no_speech: boolean | null;
  duration_s: number | null;
  opus_path: string | null;
  storage_uri: string | null;
}

/** The keys, in order, for CSV headers and for tests. */
export const EXPORT_KEYS = [
  'id',
  'date',
  'archive',
  'status',
  'error',
  'language',
  'language_prob',
  'text',
  'no_speech',
  'duration_s',
  'opus_path',
  'storage_uri',
] as const satisfies readonly (keyof ExportRow)[];

export async function* exportDate(
  db: Db,
  date: string,
  options: { pageSize?: number } = {},
): AsyncGenerator<ExportRow> {
  const pageSize = Math.max(1, options.pageSize ?? 1000);
  let after: { archive: string; id: string } | undefined;
  for (;;) {
    const page = await db.execute<ExportRow & Record<string, unknown>>(sql`
      SELECT f.id, f.date::text AS date, f.archive, f.status, f.error,
             t.language, t.language_prob, t.text, t.no_speech,
             coalesce(f.duration_s, t.duration_s) AS duration_s,
             f.opus_path, f.storage_uri
      FROM audio_files AS f
      LEFT JOIN transcripts AS t ON t.id = f.id
      WHERE f.date = ${date}
        ${after ? sql`AND (f.archive, f.id) > (${after.archive}, ${after.id})` : sql``}
      ORDER BY f.archive, f.id
      LIMIT ${pageSize}
    `);
    for (const row of page.rows) {
      // Fixed key order whatever the driver does: consumers diff exports.
      yield Object.fromEntries(EXPORT_KEYS.map((k) => [k, row[k] ?? null])) as unknown as ExportRow;
    }
    if (page.rows.length < pageSize) return;
    const last = page.rows[page.rows.length - 1]!;
    after = { archive: last.archive, id: last.id };
  }
}
