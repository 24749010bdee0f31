/**
 * Full-text search over transcripts in any language, ranked, in bounded time at any scale.
 *
 * Matching. transcripts.tsv holds each text twice: stemmed with its language's configuration
 * (audio_pipeline_ts_config(language)) and unstemmed ('simple'). A query is matched against a
 * row with the same two configurations: the row's language (so "running" finds "runs" in an
 * English transcript and "Häuser" finds "Haus" in a German one) OR simple (so an exact word is
 * found in a language PostgreSQL has no stemmer for). Because that tsquery differs per row it
 * cannot drive the GIN index, so a first condition ORs the query as parsed by every
 * configuration (audio_pipeline_any_language_tsquery, migration 0000): one index scan, then
 * the exact per-row check.
 *
 * Ranking: a bounded candidate set (bench/README.md, "search"). Ranking every match costs time in
 * proportion to the matches — ts_rank reads each row's tsvector — so a word in 20% of a million
 * transcripts took ~300 ms. Instead the first `candidates` matches the index scan yields (in
 * table order, i.e. roughly oldest first) are ranked with ts_rank and the best `limit` returned;
 * ts_headline runs for those only. When a query matches no more rows than that, the ranking is
 * exact (`exact: true`), which is every query that matches fewer than `candidates` rows; above,
 * it is the best among the candidates, and `exact: false` says so. bench/search.ts measures the
 * latency and the overlap with the exact ranking.
 */
import { sql } from 'drizzle-orm';
import { BadInputError } from '../../lib/errors.ts';
import type { Db } from './database.ts';

/** Longest query accepted: far more than anyone types, far less than a costly tsquery. */
export const MAX_QUERY_CHARS = 500;

/** Matches ranked per query at most (see the module comment); the latency bound. */
export const DEFAULT_SEARCH_CANDIDATES = 2000;

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
  /** Matches ranked at most; default DEFAULT_SEARCH_CANDIDATES (at least limit + offset). */
  candidates?: number;
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

export interface SearchResult {
  hits: SearchHit[];
  /** true when every match was ranked (the query matched no more rows than the candidate bound). */
  exact: boolean;
}

/**
 * The search as one statement (bench/search.ts EXPLAINs it). `found`: the first candidates + 1
 * rows the GIN index yields for the any-language query (one more than are ranked, to know whether
 * there are more). `queries`: the per-row query (its language's parse OR simple) computed once
 * per language among them, not once per row — that parse was the largest cost per candidate. A
 * row matched only through another language's parse is dropped by the `@@` of `ranked`.
 * ts_headline, which reads the text, runs for the returned page only.
 */
export function rankedSearchSql(
  text: string,
  /** audio_pipeline_any_language_tsquery(text), as text (see searchTranscriptsRanked). */
  anyLanguage: string,
  o: Pick<SearchOptions, 'language' | 'date'> & {
    limit: number;
    offset: number;
    candidates: number;
    headlineOptions: string;
  },
) {
  return sql`
    WITH found AS MATERIALIZED (
      SELECT t.id, coalesce(t.language, '') AS language, t.tsv
      FROM transcripts AS t
      ${o.date !== undefined ? sql`JOIN audio_files AS df ON df.id = t.id AND df.date = ${o.date}` : sql``}
      WHERE t.tsv @@ ${anyLanguage}::tsquery
        ${o.language !== undefined ? sql`AND t.language = ${o.language}` : sql``}
      LIMIT ${o.candidates + 1}
    ),
    queries AS MATERIALIZED (
      SELECT l.language,
             websearch_to_tsquery(audio_pipeline_ts_config(l.language), ${text})
               || websearch_to_tsquery('pg_catalog.simple'::regconfig, ${text}) AS q
      FROM (SELECT DISTINCT language FROM found) AS l
    ),
    ranked AS (
      SELECT c.id, c.language, qs.q, ts_rank(c.tsv, qs.q)::float8 AS rank
      FROM found AS c
      JOIN queries AS qs ON qs.language = c.language
      WHERE c.tsv @@ qs.q
      ORDER BY rank DESC, c.id
      LIMIT ${o.limit} OFFSET ${o.offset}
    )
    SELECT r.id, f.date::text AS date, f.archive, t.language,
           ts_headline(audio_pipeline_ts_config(t.language), t.text, r.q, ${o.headlineOptions}) AS snippet,
           r.rank, (SELECT count(*) FROM found)::int AS matched
    FROM ranked AS r
    JOIN audio_files AS f ON f.id = r.id
    JOIN transcripts AS t ON t.id = r.id
    ORDER BY r.rank DESC, r.id
  `;
}

/** ts_headline options are one string of key=value pairs; keep marks from breaking it. */
const headlineMark = (mark: string) => `"${mark.replace(/["\\,]/g, '')}"`;

/** The hits of `query`, best first (see the module comment for how they are ranked). */
export async function searchTranscripts(
  db: Db,
  query: string,
  options: SearchOptions = {},
): Promise<SearchHit[]> {
  return (await searchTranscriptsRanked(db, query, options)).hits;
}

export async function searchTranscriptsRanked(
  db: Db,
  query: string,
  options: SearchOptions = {},
): Promise<SearchResult> {
  const text = checkSearchQuery(query);
  if (!text) return { hits: [], exact: true };
  const limit = Math.max(1, Math.min(options.limit ?? 20, 1000));
  const offset = Math.max(0, options.offset ?? 0);
  const candidates = Math.max(options.candidates ?? DEFAULT_SEARCH_CANDIDATES, limit + offset);
  const { start, stop } = options.highlight ?? { start: '«', stop: '»' };
  const headlineOptions = `StartSel=${headlineMark(start)}, StopSel=${headlineMark(stop)}, MaxFragments=2, MaxWords=25, MinWords=8, FragmentDelimiter=" … "`;

  // The any-language query goes in as a constant, so that the planner sees its lexemes and knows
  // from the column's statistics how many rows match: for a word in a fifth of the rows, reading
  // the table in order until the candidates are found beats building the index's bitmap of
  // every match (~0.5 s at a million rows); for a rarer word the index is used.
  const parsed = await db.execute<{ q: string }>(
    sql`SELECT audio_pipeline_any_language_tsquery(${text})::text AS q`,
  );
  const anyLanguage = parsed.rows[0]?.q ?? '';
  if (!anyLanguage) return { hits: [], exact: true }; // nothing but punctuation: nothing to find
  const result = await db.execute<SearchHit & { matched: number }>(
    rankedSearchSql(text, anyLanguage, { ...options, limit, offset, candidates, headlineOptions }),
  );
  const matched = result.rows[0]?.matched ?? 0;
  return {
    hits: result.rows.map(({ matched: _, ...hit }) => ({ ...hit, rank: Number(hit.rank) })),
    // With no rows on this page (an offset past the end) the count is unknown but below the bound.
    exact: result.rows.length === 0 || matched <= candidates,
  };
}
