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
 * 2. transcripts.tsv_tiers (migrations 0003, 0004) holds 'lexeme#n' for n = 2, 3, 4, 6, 8, … 64
 *    whenever tsv holds the lexeme at n positions or more (tier 2 of a word in both of tsv's
 *    halves — its stem is itself — from 3 positions on), with a GIN index of its own. So a
 *    transcript outside tier n holds each query lexeme at n − 1 positions at most (tier 2: at
 *    2), and ranks at most tierBound(n).
 *
 * So the search looks at the tiers from the top (REPETITION_TIERS): the matches that repeat a
 * query word at least n times, few for large n, are ranked; when there are at least a page of
 * them and the page's last rank is ≥ tierBound(n), no other match can outrank them and the page is
 * exact. Otherwise the next tier down is tried. A tier with more matches than `candidates` is
 * ranked from its first `candidates` rows (plus the small tiers above), and the result says
 * `exact: false`. A query of several words or a phrase is ranked by the same mean, so the same
 * proof holds: it first ranks its matches in tier 2 of any of its words (found by intersecting
 * both indexes) when the planner expects few, and the page is exact when it reaches
 * tierBound(2). Otherwise it uses, below the tiers too small to fill
 * a page, the transcripts that repeat every word (everyWordTierQuery): those that repeat one are
 * mostly matches of that word alone; the result is then the best of those and says `exact: false`
 * — unless the planner expects few enough matches to rank them all. The last resort ranks the
 * first `candidates` matches of all (plus the small tiers), exact when the query matches no more
 * rows than that. ts_headline, which reads the text, runs for the returned page only.
 *
 * Phrases. tsv's GIN index holds no positions, so a phrase was checked row by row in every
 * transcript that holds its words ("best friend": 4,381 rows read for 54 matches at a million).
 * tsv_tiers also holds a token for each pair of stems said one right after the other (migration
 * 0004: one of 2^18 buckets of 'best friend'), and for most phrases every match holds the
 * phrase's pairs (phrasePairs, pairTokens say when): so the transcripts that hold their tokens,
 * few for most phrases, are the candidates, ranked all and exact when the planner expects no more
 * than the bound; otherwise every tier above is narrowed by them.
 * bench/search.ts measures the latency and the overlap with the exact ranking.
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
  /**
   * true when no match outside the page can outrank its hits: every match was ranked (no more
   * than the candidate bound), or the repetition tiers prove it (see the module comment).
   */
  exact: boolean;
}

/** How many times more rows than the planner expects an index intersection may return (above). */
const INTERSECTION_UNDERESTIMATE = 20;

/** Repetition counts indexed by tsv_tiers (migrations 0003 and 0004), searched from the top. */
export const REPETITION_TIERS = [64, 32, 16, 8, 6, 4, 3, 2] as const;
/** Counted first, cheaply (few rows each); the low tiers only when these did not decide. */
const HIGH_TIERS: readonly number[] = REPETITION_TIERS.filter((t) => t >= 8);
const LOW_TIERS: readonly number[] = REPETITION_TIERS.filter((t) => t < 8);

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

/** The highest rank of a transcript outside tier `tier` (see the module comment). */
export const tierBound = (tier: number) => tfRankBound(tier === 2 ? 2 : tier - 1);

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

/**
 * The query with every lexeme required at `tier` positions or more: ('now#4' & 'right#4') for
 * "now right" — the transcripts that repeat every word (phrase operators become &: tsv_tiers has no
 * positions). undefined when that is no narrower than tierQuery (only | between the words) or
 * would mean something else (a negation: !'x#4' is "not said 4 times", not "not said").
 */
export function everyWordTierQuery(tsquery: string, tier: number): string | undefined {
  const parts = tsquery.split(/('(?:[^']|'')*')/); // odd indexes: the quoted lexemes
  const operators = parts.filter((_, i) => i % 2 === 0).join('');
  if (operators.includes('!') || !/[&<]/.test(operators)) return undefined;
  return parts
    .map((part, i) => (i % 2 === 1 ? `${part.slice(0, -1)}#${tier}'` : part.replace(/<(?:-|\d+)>/g, '&')))
    .join('');
}

/**
 * The word pairs ('stem stem': two stems said one right after the other) that a match of
 * `tsquery` holds, as the branches of an OR, each a list of pairs all required. `tsquery` is
 * audio_pipeline_any_language_tsquery's text: the query as each language parses it, ORed; for
 * "best friends forever", [['best friend', 'friend forev'], ['best friends', 'friends forev'], …].
 * A transcript matched through its language's parse, in tsv's stems, holds that parse's pairs;
 * pairTokens says when every other match does too. undefined when some parse has no pair (a
 * single word, or a phrase that is all stop words but one in some language: "you know" is 'know'
 * in English), or the query is not plain phrases and words joined by & and | (a negation,
 * parentheses). Migration 0004 indexes each pair by audio_pipeline_pair_token.
 */
export function phrasePairs(tsquery: string): string[][] | undefined {
  const tokens = [...tsquery.matchAll(/'((?:[^']|'')*)'|<->|<\d+>|&|\||(\S)/g)];
  if (tokens.some((t) => t[2] !== undefined)) return undefined; // (, ), !, :*, weights
  const branches = new Map<string, string[]>();
  let pairs: string[] = [];
  let previous: string | undefined; // the lexeme before a <->
  let adjacent = false;
  const closeBranch = () => {
    if (pairs.length === 0) return false;
    const unique = [...new Set(pairs)];
    branches.set(unique.join('\n'), unique);
    pairs = [];
    return true;
  };
  for (const [token, quoted] of tokens) {
    if (quoted !== undefined) {
      const lexeme = quoted.replaceAll("''", "'");
      if (adjacent && previous !== undefined) pairs.push(`${previous} ${lexeme}`);
      previous = lexeme;
      adjacent = false;
    } else if (token === '<->') adjacent = true;
    else if (token === '|') {
      if (!closeBranch()) return undefined;
      previous = undefined;
    } else previous = undefined; // & or <N>: the next lexeme is not right after this one
  }
  if (!closeBranch()) return undefined;
  return [...branches.values()];
}

/** `branches` (phrasePairs) as a tsquery over tsv_tiers, each pair replaced by its token. */
export function pairTokensQuery(branches: string[][], tokenOf: ReadonlyMap<string, string>): string {
  const ands = [
    ...new Set(branches.map((b) => [...new Set(b.map((p) => `'${tokenOf.get(p)!}'`))].join(' & '))),
  ];
  return ands.map((a) => (ands.length > 1 && a.includes('&') ? `(${a})` : a)).join(' | ');
}

/** Which candidates a statement ranks (tsquery texts over tsv_tiers; see the module comment). */
export interface CandidateTiers {
  /** Only matches in this tier, the first `candidates` + 1 of them; absent: any match. */
  bounded?: string;
  /** Also every match in this tier (a tier above, known to hold at most `candidates` rows). */
  keep?: string;
  /**
   * `bounded`'s matches found by intersecting both indexes' bitmaps instead of checking its rows
   * one by one: for a low tier of several common words (many rows, few of them matches).
   */
  intersect?: boolean;
  /**
   * Snippets only when `bounded` fills the page (at least `need` candidates): a statement whose
   * page the search throws away when it is short (the next tier down is tried) skips ts_headline,
   * which reads and parses the text of every hit.
   */
  snippetsIfAtLeast?: number;
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
  // The candidates carry setweight(tsv, 'D'): a detoasted copy of tsv (a no-op on these vectors,
  // whose positions all carry the default weight D), which the match checks and ts_rank below
  // read, instead of each of them reading the stored value from TOAST again (ts_rank more than
  // once): 10 instead of 30 ms for ranking 1,093 candidates (bench/README.md, "search"). Only the
  // scan's own condition may still read the stored value: a sequential scan's filter, or a GIN
  // recheck (phrases). The copies are held by the CTEs below, ~1 KB each for a 100-word text.
  const matches = (tier: string | undefined, intersect = false) => sql`
      SELECT s.* FROM (
        SELECT t.id, coalesce(t.language, '') AS language, setweight(t.tsv, 'D') AS tsv
        FROM transcripts AS t
        ${o.date !== undefined ? sql`JOIN audio_files AS df ON df.id = t.id AND df.date = ${o.date}` : sql``}
        WHERE ${
          tier === undefined
            ? sql`t.tsv @@ ${anyLanguage}::tsquery`
            : intersect
              ? sql`t.tsv_tiers @@ ${tier}::tsquery AND t.tsv @@ ${anyLanguage}::tsquery`
              : // Within a tier the few rows it holds are checked one by one (outside): the
                // planner does not also build tsv's bitmap of every match of a common word.
                sql`t.tsv_tiers @@ ${tier}::tsquery`
        }
          ${o.language !== undefined ? sql`AND t.language = ${o.language}` : sql``}
        OFFSET 0
      ) AS s
      WHERE s.tsv @@ ${anyLanguage}::tsquery`;
  const keep = o.tiers?.keep;
  return sql`
    WITH bounded AS MATERIALIZED (
      ${matches(o.tiers?.bounded, o.tiers?.intersect)}
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
    SELECT page.id, page.date, page.archive, page.language,
           CASE WHEN m.matched >= ${o.tiers?.snippetsIfAtLeast ?? 0}::int
                THEN ts_headline(audio_pipeline_ts_config(page.language), page.text, page.q, ${o.headlineOptions})
           END AS snippet,
           page.rank, m.matched
    FROM (SELECT count(*)::int AS matched FROM bounded) AS m
    LEFT JOIN (
      SELECT r.id, f.date::text AS date, f.archive, t.language, t.text, r.q, r.rank
      FROM ranked AS r
      JOIN audio_files AS f ON f.id = r.id
      JOIN transcripts AS t ON t.id = r.id
    ) AS page ON true
    ORDER BY page.rank DESC, page.id
  `;
}

/** ts_headline options are one string of key=value pairs; keep marks from breaking it. */
const headlineMark = (mark: string) => `"${mark.replace(/["\\,]/g, '')}"`;

/** The snippet's ts_headline options: two fragments of up to 25 words, matches between marks. */
export const headlineOptions = ({ start, stop } = { start: '«', stop: '»' }) =>
  `StartSel=${headlineMark(start)}, StopSel=${headlineMark(stop)}, MaxFragments=2, MaxWords=25, MinWords=8, FragmentDelimiter=" … "`;

/**
 * The hits of a rankedSearchSql result: one row per hit, each with `matched` (the bounded
 * candidates), or a single row of nulls but `matched` when the page is empty.
 */
export type RankedRow = { [K in keyof SearchHit]: SearchHit[K] | null } & { matched: number };
export const rankedHits = (rows: RankedRow[]): SearchHit[] =>
  rows
    .filter((row) => row.id !== null)
    .map(({ matched: _, ...hit }) => ({ ...hit, rank: Number(hit.rank) }) as SearchHit);

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
  const headline = headlineOptions(options.highlight);

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
  const rank = async (tiers?: CandidateTiers) => {
    const result = await db.execute<RankedRow>(
      rankedSearchSql(text, anyLanguage, {
        ...options,
        limit,
        offset,
        candidates,
        headlineOptions: headline,
        tiers,
      }),
    );
    return { hits: rankedHits(result.rows), matched: result.rows[0]?.matched ?? 0 };
  };

  // Whether `hits` (all of a tier's matches ranked) are a full page that no match outside the
  // tier can outrank: its last rank reaches the tier's bound (with an OR-topped query only).
  const fillsAbove = (hits: SearchHit[], tier: number) => {
    const last = hits.at(-1);
    return tfRanked && hits.length === limit && last !== undefined && last.rank >= tierBound(tier);
  };

  const lexemes = tsqueryLexemes(anyLanguage);
  const need = limit + offset;
  const isPhrase = /<(?:-|\d+)>/.test(anyLanguage);
  // A phrase's every match holds its word pairs (migration 0004): the candidates of a phrase are
  // the transcripts that hold them, found in tsv_tiers' index, not all that hold its words.
  const pairs = isPhrase ? await pairTokens(db, text, anyLanguage) : undefined;
  const withPairs = (q: string) => (pairs === undefined ? q : `(${q}) & (${pairs})`);
  const anyWordTier = (tier: number) => withPairs(tierQuery(lexemes, tier));
  const everyWordTier = (tier: number) => withPairs(everyWordTierQuery(anyLanguage, tier)!);
  const everyWord = everyWordTierQuery(anyLanguage, REPETITION_TIERS[0]) !== undefined;
  // Counts of each tier's transcripts (up to a page's worth, from tsv_tiers alone): a tier with
  // fewer cannot fill the page — and, holding fewer rows than the bound, it can be ranked whole
  // beside any other candidates (`keep`). Counting a tier builds the index's bitmap of its rows,
  // cheap for the high tiers, not for tier 4 of a common word; so the low tiers of one word are
  // counted only when the high ones did not decide, and those of several words only when the
  // planner expects few matches (otherwise the loop below ranks them and reads the count of their
  // candidates).
  const counted = new Map<string, number>();
  const countTiers = async (tiers: readonly number[], kinds: readonly boolean[]) => {
    const rows = await db.execute<{ tier: number; every: boolean; n: number }>(sql`
      SELECT p.tier, p.every, (SELECT count(*) FROM (
        SELECT 1 FROM transcripts AS t WHERE t.tsv_tiers @@ p.q::tsquery LIMIT ${need}) AS x)::int AS n
      FROM (VALUES ${sql.join(
        tiers.flatMap((tier) =>
          kinds.map(
            (every) => sql`(${tier}::int, ${every}, ${every ? everyWordTier(tier) : anyWordTier(tier)})`,
          ),
        ),
        sql`, `,
      )}) AS p(tier, every, q)`);
    for (const row of rows.rows) counted.set(`${row.tier}${row.every}`, row.n);
  };
  let allEstimate: number | undefined;
  /** The planner's estimate of all matches (a phrase: of its pairs' transcripts), asked once. */
  const allMatchesEstimate = async () =>
    (allEstimate ??=
      pairs === undefined
        ? await estimatedMatches(db, anyLanguage)
        : await estimatedMatches(db, undefined, pairs));
  // A phrase whose pairs the planner expects in no more transcripts than the bound: rank all of
  // its matches (the transcripts that hold the pairs and, checked against tsv, the phrase).
  if (pairs !== undefined && (await allMatchesEstimate()) <= candidates) {
    const r = await rank({ bounded: pairs });
    if (r.matched <= candidates) return { hits: r.hits, exact: true };
  }
  // Several words or a phrase. When the planner expects few transcripts that repeat any of the
  // words and hold them all (tier 2 intersected with the matches: a few hundred for two words in
  // 5% of the rows each), ranking them all gives the page, and the bound of tier 2 proves it exact.
  if (everyWord && tfRanked) {
    const bottom = REPETITION_TIERS.at(-1)!;
    // The planner multiplies the two conditions' selectivities as if they were independent, but
    // transcripts that repeat a word are longer and hold more of every word: it expects 6–25
    // times too few (bench/search.ts's corpus, 1M rows), hence the margin. Intersecting two
    // common words' bitmaps costs 50–100 ms, so a wrong guess is dear. A phrase's pairs narrow
    // the tier in tsv_tiers' own index: no bitmap of tsv's to intersect.
    const expected = await estimatedMatches(
      db,
      pairs === undefined ? anyLanguage : undefined,
      anyWordTier(bottom),
    );
    if (expected * INTERSECTION_UNDERESTIMATE <= candidates) {
      const r = await rank({
        bounded: anyWordTier(bottom),
        intersect: pairs === undefined,
        snippetsIfAtLeast: need,
      });
      if (r.matched <= candidates && fillsAbove(r.hits, bottom)) return { hits: r.hits, exact: true };
    }
  }
  await countTiers(HIGH_TIERS, everyWord ? [false, true] : [false]);
  // The transcripts that repeat any of the words `tier` times (the every-word tiers are read
  // from `counted` by the loop below).
  const countAnyWord = async (tier: number): Promise<number> => {
    if (!everyWord && LOW_TIERS.includes(tier) && !counted.has(`${LOW_TIERS[0]}false`)) {
      await countTiers(LOW_TIERS, [false]);
    }
    return counted.get(`${tier}false`) ?? need; // not counted: may fill a page
  };
  const union = (a: string | undefined, b: string) => (a === undefined ? b : `(${a}) | (${b})`);

  let keep: string | undefined; // candidates ranked in every statement below: a few best rows
  for (const tier of REPETITION_TIERS) {
    const anyWord = anyWordTier(tier);
    const n = await countAnyWord(tier);
    if (n === 0) continue;
    if (n < need) {
      keep = anyWord; // the tiers nest: this one holds every row kept so far
      continue;
    }
    if (!everyWord) {
      const r = await rank({ bounded: anyWord, keep });
      if (r.matched > candidates) return { hits: r.hits, exact: false }; // so would every tier below be
      if (fillsAbove(r.hits, tier)) return { hits: r.hits, exact: true };
      keep = anyWord;
      continue;
    }
    // Several words: the transcripts that repeat one of them are mostly matches of that one word
    // alone, too many to sift; those that repeat all of them are few and rank highest.
    // The high tiers were counted. A low one is not, when its words are common: counting it
    // builds the same bitmap as ranking it (~4 ms each for two words in 20% of a million rows),
    // so the ranking statement's own count of its candidates (the tier's matches) tells whether
    // it filled the page. When the planner expects few matches in all, the search ranks them
    // all (below), and the low tiers are counted as the high ones were: cheap then, and a tier
    // with fewer rows than a page is kept, in case the planner was wrong and there are more
    // matches than the candidates.
    const allWords = everyWordTier(tier);
    let m = counted.get(`${tier}true`);
    if (m === undefined && (await allMatchesEstimate()) <= candidates) {
      await countTiers(LOW_TIERS, [true]);
      m = counted.get(`${tier}true`) ?? need;
    }
    if (m === 0) continue;
    if (m !== undefined && m < need) {
      keep = union(keep, allWords);
      continue;
    }
    // Unless ranking every match is cheap (the planner's estimate) and then exact.
    if ((await allMatchesEstimate()) <= candidates) break;
    // The tier above held fewer than a page (kept). Of this tier's transcripts, those that also
    // say one of the words as often as the tier above (one three times and the other twice)
    // rank above the rest (both twice) unless forms mix (5 positions); when they fill the page,
    // they are the candidates: ~300 instead of 1,093 for "right yeah" (bench/README.md).
    const above = REPETITION_TIERS[REPETITION_TIERS.indexOf(tier) - 1];
    if (keep !== undefined && above !== undefined) {
      // allWords already holds a phrase's pairs
      const narrowed = `(${allWords}) & (${tierQuery(lexemes, above)})`;
      const fewer = await rank({ bounded: narrowed, keep, snippetsIfAtLeast: need });
      if (fewer.hits.length === limit) return { hits: fewer.hits, exact: false };
    }
    const r = await rank({ bounded: allWords, keep, snippetsIfAtLeast: need });
    if (r.matched < need) {
      // Fewer matches than a page: all of them were ranked; the tier below is tried. They are
      // ranked again there only if kept, since its candidates stop at the bound. Kept when the
      // tier's rows are those matches; a phrase's tier without its pairs may hold thousands of
      // rows that say both words but not the phrase, not worth reading again.
      if (r.matched > 0 && (!isPhrase || pairs !== undefined)) keep = union(keep, allWords);
      continue;
    }
    return { hits: r.hits, exact: false };
  }
  const r = await rank({ bounded: pairs, keep });
  return { hits: r.hits, exact: r.matched <= candidates };
}

/** A quoted lexeme of a tsquery's text, and a quote as that text doubles it (bind parameters). */
const QUOTED_LEXEME = `'((?:[^']|'')*)'`;

/**
 * The tsquery over tsv_tiers of a phrase's pairs (phrasePairs), their tokens made by the server;
 * undefined unless every transcript that matches `text` must hold them. The stored pairs are those
 * of tsv's first half, the stems of the transcript's own language; a transcript can also match in
 * the second, its plain words. That is safe when, for the parse of `text` in every language the
 * transcripts are in (and 'simple', for those without one or without a stemmer):
 * - the parse is one phrase, not empty: a transcript matched by its plain words ('simple') in
 *   language L then holds L's parse of the same words in its stems, and that parse's pairs are in
 *   the OR (an empty one is left out of it: "the who" in English, all stop words); with an OR or
 *   an & the parts could match in different halves, each holding the pairs of another parse;
 * - every lexeme of it is its own stem and no stop word there: L's parse can match the plain
 *   words too ('own' <-> 'car' for "owns car" in "his own car"), and those pairs are then in the
 *   stems only if each plain word stems to itself.
 * ("lute" is 'lut' in Hungarian, whose stem of 'lut' is 'lu': checked only if some transcript is
 * in Hungarian.) A transcript stored while this runs, in a language not seen yet, may be missed by
 * this one search. A phrase that spans the end of the text and its beginning (tsv's two halves
 * joined) is not found through the pairs: it was never said. Nor is one whose stem a transcript
 * already holds at 255 positions (to_tsvector keeps no more) while its plain words ("liked"
 * after 255 "like"s) still have room: a repetition loop, found by a review, not otherwise seen.
 */
async function pairTokens(db: Db, text: string, anyLanguage: string): Promise<string | undefined> {
  const branches = phrasePairs(anyLanguage);
  if (!branches) return undefined;
  const all = [...new Set(branches.flat())];
  const { rows } = await db.execute<{ pair: string; token: string; safe: boolean }>(sql`
    WITH RECURSIVE languages(language) AS (
      -- the transcripts' languages, one index probe each (transcripts_language_idx)
      (SELECT t.language FROM transcripts AS t WHERE t.language IS NOT NULL ORDER BY t.language LIMIT 1)
      UNION ALL
      SELECT (SELECT t.language FROM transcripts AS t WHERE t.language > l.language
              ORDER BY t.language LIMIT 1)
      FROM languages AS l WHERE l.language IS NOT NULL
    ),
    configs AS (
      SELECT audio_pipeline_ts_config(language) AS cfg FROM languages WHERE language IS NOT NULL
      UNION SELECT 'pg_catalog.simple'::regconfig -- no language, or one without a stemmer
    ),
    parses AS (SELECT cfg, websearch_to_tsquery(cfg, ${text}) AS q FROM configs),
    lexemes AS (
      SELECT p.cfg, replace(m[1], ${"''"}, ${"'"}) AS lexeme
      FROM parses AS p, regexp_matches(p.q::text, ${QUOTED_LEXEME}, 'g') AS m
    ),
    safe AS (
      SELECT (SELECT bool_and(numnode(q) > 0
                              AND regexp_replace(q::text, ${QUOTED_LEXEME}, '', 'g') !~ '[|&]')
              FROM parses)
         AND (SELECT coalesce(bool_and(strip(to_tsvector(cfg, lexeme)) = array_to_tsvector(ARRAY[lexeme])), true)
              FROM lexemes) AS ok
    )
    SELECT p AS pair, audio_pipeline_pair_token(p) AS token, (SELECT ok FROM safe) AS safe
    FROM unnest(${sql.param(all)}::text[]) AS p`);
  if (!rows.every((r) => r.safe)) return undefined;
  return pairTokensQuery(branches, new Map(rows.map((r) => [r.pair, r.token])));
}

/**
 * The planner's estimate of the transcripts a tsquery over tsv matches (EXPLAIN: planning only),
 * within the transcripts `tiers` (a tsquery over tsv_tiers) matches, if given.
 */
async function estimatedMatches(db: Db, tsquery: string | undefined, tiers?: string): Promise<number> {
  const plan = await db.execute<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
    sql`EXPLAIN (FORMAT JSON) SELECT 1 FROM transcripts WHERE ${sql.join(
      [
        ...(tsquery !== undefined ? [sql`tsv @@ ${tsquery}::tsquery`] : []),
        ...(tiers !== undefined ? [sql`tsv_tiers @@ ${tiers}::tsquery`] : []),
      ],
      sql` AND `,
    )}`,
  );
  return plan.rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? Infinity;
}
