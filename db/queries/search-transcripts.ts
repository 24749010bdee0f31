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
 * Ranking: ts_rank, without ranking every match. Ranking all matches costs time in proportion to
 * them — ts_rank reads each row's tsvector — so a word in 20% of a million transcripts took
 * ~300 ms. Two facts make that unnecessary (bench/README.md, "search"):
 *
 * 1. With PostgreSQL's default normalisation and a query whose top operator is OR (ours always is:
 *    the language's parse OR the simple one), ts_rank is the mean over the query's distinct
 *    lexemes of g(number of positions tsv holds for it), g increasing (tfRankBound). A transcript
 *    that holds none of the query's lexemes at `n` positions or more ranks at most g(n − 1).
 * 2. transcripts.tsv_tiers (migration 0003) holds 'lexeme#n' for n = 3, 4, 8, … 64 whenever tsv
 *    holds the lexeme at n positions or more, with a GIN index of its own.
 *
 * So the search looks at the tiers from the top (REPETITION_TIERS): the matches that repeat a
 * query word at least n times, few for large n, are ranked; when there are at least a page of
 * them and the page's last rank is ≥ g(n − 1), no other match can outrank them and the page is
 * exact. Otherwise the next tier down is tried. A tier with more matches than `candidates` is
 * ranked from its first `candidates` rows (plus every row of the tier above), and the result says
 * `exact: false`; so is the last resort, the first `candidates` matches of all (plus the complete
 * tier 3), which is exact when the query matches no more rows than that. ts_headline, which reads
 * the text, runs for the returned page only. bench/search.ts measures the latency and the overlap
 * with the exact ranking.
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

/** Repetition counts indexed by tsv_tiers (migration 0003), searched from the top. */
export const REPETITION_TIERS = [64, 32, 16, 8, 4, 3] as const;

/**
 * g(n): ts_rank of a transcript that holds each of the query's lexemes at n positions (weight D,
 * normalisation 0) — tsrank.c's calc_rank_or in float4 arithmetic. Any transcript holding every
 * query lexeme at n positions or fewer ranks at most this.
 */
export function tfRankBound(positions: number): number {
  const weight = Math.fround(0.1);
  let sum = Math.fround(0);
  for (let j = 1; j <= positions; j++) sum = Math.fround(sum + Math.fround(weight / (j * j)));
  return Math.fround((weight + sum - weight) / 1.64493406685);
}

/**
 * The lexemes of a tsquery's text form ('coffe' | 'coffee' & !'tea'), still quoted as tsquery
 * literals quote them (a quote doubled), so that `'${lexeme}#8'` is a valid literal again.
 */
export function tsqueryLexemes(tsquery: string): string[] {
  return [...new Set([...tsquery.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1]!))];
}

/** The tsquery of the transcripts that repeat any of `lexemes` at least `tier` times. */
export const tierQuery = (lexemes: string[], tier: number) =>
  lexemes.map((l) => `'${l}#${tier}'`).join(' | ');

/** Which candidates a statement ranks (tsquery texts over tsv_tiers; see the module comment). */
export interface CandidateTiers {
  /** Only matches in this tier, the first `candidates` + 1 of them; absent: any match. */
  bounded?: string;
  /** Also every match in this tier (a tier above, known to hold at most `candidates` rows). */
  keep?: string;
}

/**
 * The search as one statement (bench/search.ts EXPLAINs it). `bounded`: the first candidates + 1
 * matches of the any-language query (within the tier, if given) — one more than the bound, to
 * know whether there are more. `found`: those and the kept tier's matches. `queries`: the per-row
 * query (its language's parse OR simple) computed once per language among them, not once per
 * row — that parse was the largest cost per candidate. A row matched only through another
 * language's parse is dropped by the `@@` of `ranked`.
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
    tiers?: CandidateTiers;
  },
) {
  const matches = (tier: string | undefined) => sql`
      SELECT t.id, coalesce(t.language, '') AS language, t.tsv
      FROM transcripts AS t
      ${o.date !== undefined ? sql`JOIN audio_files AS df ON df.id = t.id AND df.date = ${o.date}` : sql``}
      WHERE t.tsv @@ ${anyLanguage}::tsquery
        ${tier !== undefined ? sql`AND t.tsv_tiers @@ ${tier}::tsquery` : sql``}
        ${o.language !== undefined ? sql`AND t.language = ${o.language}` : sql``}`;
  const keep = o.tiers?.keep;
  return sql`
    WITH bounded AS MATERIALIZED (
      ${matches(o.tiers?.bounded)}
      LIMIT ${o.candidates + 1}
    ),
    found AS MATERIALIZED (
      SELECT * FROM bounded
      ${keep !== undefined ? sql`UNION ALL SELECT * FROM (${matches(keep)}) AS k WHERE k.id NOT IN (SELECT id FROM bounded)` : sql``}
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
    SELECT page.*, m.matched
    FROM (SELECT count(*)::int AS matched FROM bounded) AS m
    LEFT JOIN (
      SELECT r.id, f.date::text AS date, f.archive, t.language,
             ts_headline(audio_pipeline_ts_config(t.language), t.text, r.q, ${o.headlineOptions}) AS snippet,
             r.rank
      FROM ranked AS r
      JOIN audio_files AS f ON f.id = r.id
      JOIN transcripts AS t ON t.id = r.id
    ) AS page ON true
    ORDER BY page.rank DESC, page.id
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
  // tfRanked: whether every row's query has OR at the top, which the tiers' bound needs (ts_rank
  // of an AND or a phrase weighs how close the words are). It has, unless the language's parse is
  // empty (all stop words there) and the simple one is more than one word.
  const parsed = await db.execute<{ q: string; tf_ranked: boolean }>(sql`
    SELECT audio_pipeline_any_language_tsquery(${text})::text AS q,
           numnode(websearch_to_tsquery('pg_catalog.simple'::regconfig, ${text})) <= 1
             OR (SELECT bool_and(numnode(websearch_to_tsquery(c.oid::regconfig, ${text})) > 0)
                 FROM pg_catalog.pg_ts_config AS c
                 WHERE c.cfgnamespace = 'pg_catalog'::regnamespace) AS tf_ranked`);
  const anyLanguage = parsed.rows[0]?.q ?? '';
  const tfRanked = parsed.rows[0]?.tf_ranked ?? false;
  if (!anyLanguage) return { hits: [], exact: true }; // nothing but punctuation: nothing to find
  // One row per hit, each with `matched` (the bounded candidates); a single row of nulls but
  // `matched` when the page is empty.
  type Row = { [K in keyof SearchHit]: SearchHit[K] | null } & { matched: number };
  const rank = async (tiers?: CandidateTiers) => {
    const result = await db.execute<Row>(
      rankedSearchSql(text, anyLanguage, { ...options, limit, offset, candidates, headlineOptions, tiers }),
    );
    const hits = result.rows
      .filter((row) => row.id !== null)
      .map(({ matched: _, ...hit }) => ({ ...hit, rank: Number(hit.rank) }) as SearchHit);
    return { hits, matched: result.rows[0]?.matched ?? 0 };
  };

  const lexemes = tsqueryLexemes(anyLanguage);
  const need = limit + offset;
  // One statement counts each tier's transcripts (up to a page's worth, from tsv_tiers alone): a
  // tier with fewer cannot fill the page, so the search starts at the highest one that can — for
  // a word no transcript repeats, at the last resort straight away.
  const probe = await db.execute<{ tier: number; n: number }>(sql`
    SELECT p.tier, (SELECT count(*) FROM (
      SELECT 1 FROM transcripts AS t WHERE t.tsv_tiers @@ p.q::tsquery LIMIT ${need}) AS x)::int AS n
    FROM (VALUES ${sql.join(
      REPETITION_TIERS.map((tier) => sql`(${tier}::int, ${tierQuery(lexemes, tier)})`),
      sql`, `,
    )}) AS p(tier, q)`);
  const count = new Map(probe.rows.map((row) => [row.tier, row.n]));
  // The tiers nest (a word said 8 times is said 4 times), so the ones too small to fill the page
  // are the top ones, and the largest of them, fewer rows than a page, is ranked in every
  // statement below: its rows are the best candidates there are.
  let keep = REPETITION_TIERS.filter((t) => (count.get(t) ?? 0) > 0 && (count.get(t) ?? 0) < need)
    .map((t) => tierQuery(lexemes, t))
    .at(-1);
  for (const tier of REPETITION_TIERS.filter((t) => (count.get(t) ?? 0) >= need)) {
    const bounded = tierQuery(lexemes, tier);
    const r = await rank({ bounded, keep });
    if (r.matched > candidates) return { hits: r.hits, exact: false }; // so would every tier below be
    const last = r.hits.at(-1);
    if (tfRanked && r.hits.length === limit && last !== undefined && last.rank >= tfRankBound(tier - 1)) {
      return { hits: r.hits, exact: true }; // no match outside this tier can outrank the page
    }
    if (r.matched > 0) keep = bounded;
  }
  const r = await rank({ keep });
  return { hits: r.hits, exact: r.matched <= candidates };
}
