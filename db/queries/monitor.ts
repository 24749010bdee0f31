/**
 * What the monitor (monitor/, `serve`) reads beyond the queries the CLI shares: totals over every
 * date, throughput, recent failures, queue rows, one clip in full, and the figures /metrics
 * exports. Every value travels as a query parameter.
 */
import { sql } from 'drizzle-orm';
import { QUEUE_STATUSES, type QueueStatus } from '../../lib/statuses.ts';
import type { Db } from './database.ts';
import { DATE_ROW } from './queue.ts';

/** Archives (queue rows other than the dates' own) per status, every status present. */
export async function archiveCountsByStatus(db: Db): Promise<Record<QueueStatus, number>> {
  const counts = Object.fromEntries(QUEUE_STATUSES.map((s) => [s, 0])) as Record<QueueStatus, number>;
  const result = await db.execute<{ status: QueueStatus; n: number }>(sql`
    SELECT status, count(*)::int AS n FROM processing_queue WHERE archive <> ${DATE_ROW} GROUP BY status
  `);
  for (const row of result.rows) counts[row.status] = row.n;
  return counts;
}

export type ThroughputPoint = { minute: string; clips: number };

/**
 * Clips that reached the database (stored or uploaded) per minute over the last `minutes`, every
 * minute present (0 when none), oldest first. A clip counts at its row's last update.
 */
export async function throughput(db: Db, minutes = 60): Promise<ThroughputPoint[]> {
  const result = await db.execute<ThroughputPoint>(sql`
    WITH minutes AS (
      SELECT generate_series(date_trunc('minute', now()) - make_interval(mins => ${minutes - 1}),
                             date_trunc('minute', now()), interval '1 minute') AS minute
    )
    SELECT to_char(m.minute AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') AS minute,
           count(f.id)::int AS clips
    FROM minutes AS m
    LEFT JOIN audio_files AS f
      ON f.status IN ('stored', 'uploaded')
     AND f.updated_at >= m.minute AND f.updated_at < m.minute + interval '1 minute'
    GROUP BY m.minute
    ORDER BY m.minute
  `);
  return result.rows;
}

export type Failure = {
  date: string;
  archive: string;
  /** The clip's id; null for a failed archive. */
  clip: string | null;
  error: string | null;
  at: string;
};

/** The latest failures, archives and clips together, newest first. */
export async function recentFailures(db: Db, limit = 50): Promise<Failure[]> {
  const result = await db.execute<Failure>(sql`
    SELECT * FROM (
      SELECT date::text AS date, archive, NULL::text AS clip, last_error AS error, updated_at::text AS at
      FROM processing_queue WHERE archive <> ${DATE_ROW} AND status = 'failed'
      UNION ALL
      SELECT date::text, archive, id, error, updated_at::text
      FROM audio_files WHERE status = 'failed'
    ) AS failures
    ORDER BY at DESC, archive, clip NULLS FIRST
    LIMIT ${limit}
  `);
  return result.rows;
}

export type QueueEntry = {
  date: string;
  /** '' for the date's own row. */
  archive: string;
  status: QueueStatus;
  attempts: number;
  error: string | null;
  files_total: number;
  files_done: number;
  files_failed: number;
  updated_at: string;
};

/** processing_queue rows (dates and archives), newest date first, optionally of one status. */
export async function listQueue(
  db: Db,
  options: { status?: QueueStatus; limit: number },
): Promise<QueueEntry[]> {
  const result = await db.execute<QueueEntry>(sql`
    SELECT date::text AS date, archive, status, attempts, last_error AS error,
           files_total, files_done, files_failed, updated_at::text AS updated_at
    FROM processing_queue
    ${options.status === undefined ? sql`` : sql`WHERE status = ${options.status}`}
    ORDER BY date DESC, archive
    LIMIT ${options.limit}
  `);
  return result.rows;
}

export type ClipDetail = {
  id: string;
  date: string;
  archive: string;
  status: string;
  error: string | null;
  duration_s: number | null;
  opus_bytes: number | null;
  storage_uri: string | null;
  has_metadata: boolean;
  description: string | null;
  hashtags: string[] | null;
  create_time: string | null;
  region: string | null;
  music_title: string | null;
  author_unique_id: string | null;
  author_nickname: string | null;
  play_count: string | null;
  language: string | null;
  language_prob: number | null;
  no_speech: boolean | null;
  model: string | null;
  text: string | null;
  segments: unknown[] | null;
};

/** One clip with its metadata and timed transcript; null when unknown. */
export async function clipDetail(db: Db, id: string): Promise<ClipDetail | null> {
  const result = await db.execute<ClipDetail>(sql`
    SELECT f.id, f.date::text AS date, f.archive, f.status, f.error,
           coalesce(f.duration_s, t.duration_s) AS duration_s, f.opus_bytes::float8 AS opus_bytes,
           f.storage_uri, f.has_metadata, f.description, f.hashtags,
           f.create_time::text AS create_time, f.region, f.music_title,
           m.author_unique_id, m.author_nickname, m.play_count::text AS play_count,
           t.language, t.language_prob, t.no_speech, t.model, t.text, t.segments
    FROM audio_files AS f
    LEFT JOIN audio_metadata AS m ON m.id = f.id
    LEFT JOIN transcripts AS t ON t.id = f.id
    WHERE f.id = ${id}
  `);
  return result.rows[0] ?? null;
}

/** Where a clip's Opus file may be: its date (for the storage path) and its staging path. */
export async function clipFileInfo(
  db: Db,
  id: string,
): Promise<{ date: string; opus_path: string | null } | null> {
  const result = await db.execute<{ date: string; opus_path: string | null }>(sql`
    SELECT date::text AS date, opus_path FROM audio_files WHERE id = ${id}
  `);
  return result.rows[0] ?? null;
}

/** Failed clips per stage (the `<stage>:` prefix of their error). */
export async function failuresByStage(db: Db): Promise<{ stage: string; n: number }[]> {
  const result = await db.execute<{ stage: string; n: number }>(sql`
    SELECT coalesce(nullif(split_part(error, ':', 1), ''), 'unknown') AS stage, count(*)::int AS n
    FROM audio_files WHERE status = 'failed' GROUP BY 1 ORDER BY 1
  `);
  return result.rows;
}

/** Seconds each finished archive took (started_at → finished_at), for /metrics. */
export async function archiveDurations(db: Db): Promise<number[]> {
  const result = await db.execute<{ s: number }>(sql`
    SELECT extract(epoch FROM finished_at - started_at)::float8 AS s
    FROM processing_queue
    WHERE archive <> ${DATE_ROW} AND started_at IS NOT NULL AND finished_at IS NOT NULL
  `);
  return result.rows.map((r) => Number(r.s));
}
