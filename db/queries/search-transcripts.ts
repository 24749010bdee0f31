/**
 * Full-text search over transcripts in any language.
 *
 * transcripts.tsv holds each text twice: stemmed with its language's configuration
 * (audio_pipeline_ts_config(language)) and unstemmed ('simple'). A query is matched against a
 * row with the same two configurations: the row's language (so "running" finds "runs" in an
 * English transcript and "Häuser" finds "Haus" in a German one) OR simple (so an exact word is
 * found in a language PostgreSQL has no stemmer for). Because that tsquery differs per row it
 * cannot drive the GIN index, so a first condition ORs the query as parsed by every
 * configuration (audio_pipeline_any_language_tsquery, migration 0000): one index scan, then
 * the exact per-row check.
 */
import { sql } from 'drizzle-orm';
import { BadInputError } from '../../lib/errors.ts';
import type { Db } from './database.ts';

/** Longest query accepted: far more than anyone types, far less than a costly tsquery. */
export const MAX_QUERY_CHARS = 500;

/**
 * A query PostgreSQL can take, or BadInputError (the monitor answers 400, the CLI exits 2): a NUL
 * byte would be a raw PostgreSQL error, and a 200,000-character query costs half a second.
 */
export function checkSearchQuery(query: string): string {
  if (query.includes('\u0000')) throw new BadInputError('holds a NUL byte', 'search query');
  if (query.length > MAX_QUERY_CHARS) {
    throw new BadInputError(
      `${query.length} characters, more than the limit of ${MAX_QUERY_CHARS}`,
      'search query',
    );
  }
  return query.trim();
}

export interface SearchOptions {
  limit?: number;
  offset?: number;
  /** Only transcripts whose detected language is this code ('en', 'de', …). */
  language?: string;
  /** Only clips of this date (YYYY-MM-DD). */
  date?: string;
  /** Marks around matched words in `snippet`; default « and ». */
  highlight?: { start: string; stop: string };
}

// A type alias, not an interface: db.execute wants a Record-compatible row type.
export type SearchHit = {
  id: string;
  date: string;
  archive: string;
  language: string | null;
  /** Excerpt with the matched words marked (ts_headline). */
  snippet: string;
  rank: number;
};

/** ts_headline options are one string of key=value pairs; keep marks from breaking it. */
const headlineMark = (mark: string) => `"${mark.replace(/["\\,]/g, '')}"`;

export async function searchTranscripts(
  db: Db,
  query: string,
  options: SearchOptions = {},
): Promise<SearchHit[]> {
  const text = checkSearchQuery(query);
  if (!text) return [];
  const limit = Math.max(1, Math.min(options.limit ?? 20, 1000));
  const offset = Math.max(0, options.offset ?? 0);
  const { start, stop } = options.highlight ?? { start: '«', stop: '»' };
  const headlineOptions = `StartSel=${headlineMark(start)}, StopSel=${headlineMark(stop)}, MaxFragments=2, MaxWords=25, MinWords=8, FragmentDelimiter=" … "`;
  const result = await db.execute<SearchHit>(sql`
    SELECT f.id, f.date::text AS date, f.archive, t.language,
           ts_headline(audio_pipeline_ts_config(t.language), t.text, rq.q, ${headlineOptions}) AS snippet,
           ts_rank(t.tsv, rq.q)::float8 AS rank
    FROM transcripts AS t
    JOIN audio_files AS f ON f.id = t.id
    CROSS JOIN LATERAL (
      SELECT websearch_to_tsquery(audio_pipeline_ts_config(t.language), ${text})
          || websearch_to_tsquery('pg_catalog.simple'::regconfig, ${text}) AS q
    ) AS rq
    WHERE t.tsv @@ audio_pipeline_any_language_tsquery(${text})
      AND t.tsv @@ rq.q
      ${options.language !== undefined ? sql`AND t.language = ${options.language}` : sql``}
      ${options.date !== undefined ? sql`AND f.date = ${options.date}` : sql``}
    ORDER BY rank DESC, f.id
    LIMIT ${limit} OFFSET ${offset}
  `);
  return result.rows.map((r) => ({ ...r, rank: Number(r.rank) }));
}
