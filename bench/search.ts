/**
 * search — ranked full-text queries on generated transcripts (1,000,000; --quick 100,000) on a
 * throwaway Debian PostgreSQL 15 cluster with its default settings: the product's search
 * (db/queries/search-transcripts.ts, a bounded candidate set) vs. the search it replaced (every
 * match ranked, per-row tsquery), vs. the naive GIN + ORDER BY ts_rank LIMIT 20, vs. ILIKE.
 *
 * Query classes: one word in ~0.01%, ~1% and ~20% of the rows; two words in ~5% each; two
 * words in ~20% each; a two-word phrase. Each class has several different terms (chosen from
 * the generator's exact document frequencies, English stop words excluded), each run `reps`
 * times after one untimed warm-up pass; latency is the client-side wall time of the whole
 * query (hits with snippets, LIMIT 20). The product's ranking is compared with the exact
 * ts_rank order of the same matches (the replaced search): overlap@20 of the ids, and the share
 * of its hits whose rank is at least the exact 20th rank (ties at the boundary make ids alone
 * understate it).
 */
import { chmodSync, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import type { Db } from '../db/queries/database.ts';
import {
  DEFAULT_SEARCH_CANDIDATES,
  headlineOptions,
  rankedHits,
  rankedSearchSql,
  type RankedRow,
  searchTranscriptsRanked,
  tierQuery,
  tsqueryLexemes,
  type SearchHit,
} from '../db/queries/search-transcripts.ts';
import { startPostgres15Cluster } from '../test/support/postgres.ts';
import { createCorpus, PHRASES, wordsNearShare, type Corpus } from './lib/word-corpus.ts';
import { option, startResult, table, writeResult } from './lib/report.ts';
import { overlap, summarize } from './lib/stats.ts';

const SEED = 20261201;
const CHUNK = 100_000;

interface QueryClass {
  name: string;
  queries: string[];
}

/** The search as it was before the bounded candidate set: every match ranked. Exact ts_rank order. */
async function searchRankingEveryMatch(db: Db, text: string): Promise<SearchHit[]> {
  const result = await db.execute<SearchHit>(sql`
    SELECT f.id, f.date::text AS date, f.archive, t.language,
           ts_headline(audio_pipeline_ts_config(t.language), t.text, rq.q, ${headlineOptions()}) AS snippet,
           ts_rank(t.tsv, rq.q)::float8 AS rank
    FROM transcripts AS t
    JOIN audio_files AS f ON f.id = t.id
    CROSS JOIN LATERAL (
      SELECT websearch_to_tsquery(audio_pipeline_ts_config(t.language), ${text})
          || websearch_to_tsquery('pg_catalog.simple'::regconfig, ${text}) AS q
    ) AS rq
    WHERE t.tsv @@ audio_pipeline_any_language_tsquery(${text})
      AND t.tsv @@ rq.q
    ORDER BY rank DESC, f.id
    LIMIT 20`);
  return result.rows.map((r) => ({ ...r, rank: Number(r.rank) }));
}

/**
 * The previous product search: the first `candidates` matches in table order ranked, without the
 * repetition tiers (the same statement with no tier), to show what the tiers change.
 */
async function searchFirstMatches(db: Db, text: string, candidates: number): Promise<SearchHit[]> {
  const anyLanguage = (
    await db.execute<{ q: string }>(sql`SELECT audio_pipeline_any_language_tsquery(${text})::text AS q`)
  ).rows[0]!.q;
  const result = await db.execute<RankedRow>(
    rankedSearchSql(text, anyLanguage, {
      limit: 20,
      offset: 0,
      candidates,
      headlineOptions: headlineOptions(),
    }),
  );
  return rankedHits(result.rows);
}

const NAIVE_SQL = `
  SELECT t.id, ts_headline('english', t.text, q) AS snippet, ts_rank(t.tsv, q) AS rank
  FROM transcripts AS t, websearch_to_tsquery('english', $1) AS q
  WHERE t.tsv @@ q
  ORDER BY rank DESC
  LIMIT 20`;

/** Every word must occur (as a substring, case-insensitively); no ranking is possible. */
const ilikeSql = (words: number) => `
  SELECT t.id, left(t.text, 200) AS snippet
  FROM transcripts AS t
  WHERE ${Array.from({ length: words }, (_, i) => `t.text ILIKE $${i + 1}`).join(' AND ')}
  LIMIT 20`;

async function time<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

/** Writes `rows` transcripts in COPY text format (two files) and loads them with server-side COPY. */
async function load(client: pg.Client, corpus: Corpus, rows: number, dir: string, log: (s: string) => void) {
  const days = 365;
  const start = Date.UTC(2025, 0, 1);
  for (let from = 0; from < rows; from += CHUNK) {
    const n = Math.min(CHUNK, rows - from);
    const files = path.join(dir, 'audio_files.tsv');
    const texts = path.join(dir, 'transcripts.tsv');
    const a = createWriteStream(files);
    const t = createWriteStream(texts);
    for (let i = from; i < from + n; i++) {
      // Ids grow with the date, as TikTok's do (their high bits are the creation time).
      const id = String(7_300_000_000_000_000_000n + BigInt(i) * 1_000_003n);
      const day = Math.floor((i / rows) * days);
      const date = new Date(start + day * 86_400_000).toISOString().slice(0, 10);
      const archive = `${date}_${String(Math.floor((i % 144) / 6)).padStart(2, '0')}-${String((i % 6) * 10).padStart(2, '0')}`;
      if (!a.write(`${id}\t${date}\t${archive}\tstored\n`)) await once(a, 'drain');
      if (!t.write(`${id}\ttiny.en\ten\t${corpus.next()}\n`)) await once(t, 'drain');
    }
    a.end();
    t.end();
    await Promise.all([once(a, 'finish'), once(t, 'finish')]);
    chmodSync(files, 0o644);
    chmodSync(texts, 0o644);
    await client.query(`COPY audio_files (id, date, archive, status) FROM '${files}'`);
    await client.query(`COPY transcripts (id, model, language, text) FROM '${texts}'`);
    log(`  loaded ${from + n} rows`);
  }
}

async function main(argv: string[]) {
  const quick = argv.includes('--quick');
  const rows = Number(option(argv, 'rows', quick ? '100000' : '1000000'));
  const terms = Number(option(argv, 'terms', quick ? '5' : '8'));
  const reps = Number(option(argv, 'reps', '3'));
  const ilikeTerms = Number(option(argv, 'ilike-terms', '2'));
  const candidateSweep = [500, DEFAULT_SEARCH_CANDIDATES, 8000];
  const log = (s: string) => process.stderr.write(`${s}\n`);

  // --server-url: a running PostgreSQL's superuser URL instead of a throwaway cluster (the load
  // is server-side COPY from this machine's files, so it must run here); with --reuse, a corpus
  // loaded there by an earlier run of the same --rows is searched again without reloading.
  const serverUrl = option(argv, 'server-url', '');
  const reuse = argv.includes('--reuse');
  const cluster = serverUrl ? { serverUrl, close: async () => {} } : await startPostgres15Cluster();
  const dir = path.join(os.tmpdir(), `audio-pipeline-bench-search-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const opened = await openDatabase({ dataDir: dir, databaseUrl: cluster.serverUrl });
  const client = new pg.Client({ connectionString: cluster.serverUrl });
  await client.connect();
  const result = startResult(
    'search',
    quick,
    {
      rows,
      seed: SEED,
      termsPerClass: terms,
      reps,
      ilikeTerms,
      candidateSweep,
      server: 'Debian PostgreSQL 15, defaults',
    },
    { postgresql: () => '' },
  );
  try {
    const { rows: v } = await client.query<{ v: string }>('SHOW server_version');
    result.versions.postgresql = v[0]!.v;
    await migrate(opened.db);
    const corpus = createCorpus({ seed: SEED });
    const loaded = Number(
      (await client.query<{ n: string }>('SELECT count(*) AS n FROM transcripts')).rows[0]!.n,
    );
    let loadS = { ms: NaN };
    let build = { ms: NaN };
    let tiersBuild = { ms: NaN };
    if (reuse && loaded === rows) {
      log(`reusing the ${rows} transcripts loaded before (the corpus is deterministic)`);
      for (let i = 0; i < rows; i++) corpus.next(); // its document frequencies pick the query terms
    } else {
      if (loaded) await client.query('TRUNCATE audio_files CASCADE');
      // Load without the indexes, then build them (timed): how a bulk load is done.
      await client.query('DROP INDEX transcripts_tsv_idx');
      await client.query('DROP INDEX transcripts_tsv_tiers_idx');
      loadS = await time(() => load(client, corpus, rows, dir, log));
      log(`loaded ${rows} rows in ${(loadS.ms / 1000).toFixed(1)} s`);
      await client.query('ANALYZE');
      await client.query("SET maintenance_work_mem = '256MB'");
      build = await time(() =>
        client.query('CREATE INDEX transcripts_tsv_idx ON transcripts USING gin (tsv)'),
      );
      tiersBuild = await time(() =>
        client.query('CREATE INDEX transcripts_tsv_tiers_idx ON transcripts USING gin (tsv_tiers)'),
      );
      await client.query('RESET maintenance_work_mem');
      await client.query('VACUUM ANALYZE transcripts');
    }
    const sizes = (
      await client.query<Record<string, string>>(`SELECT
        pg_size_pretty(pg_relation_size('transcripts')) AS heap,
        pg_size_pretty(pg_total_relation_size('transcripts')) AS total,
        pg_size_pretty(pg_relation_size('transcripts_tsv_idx')) AS gin,
        pg_size_pretty(pg_relation_size('transcripts_tsv_tiers_idx')) AS "tiers gin"`)
    ).rows[0]!;
    log(
      `GIN built in ${(build.ms / 1000).toFixed(1)} s, tiers GIN in ${(tiersBuild.ms / 1000).toFixed(1)} s; sizes ${JSON.stringify(sizes)}`,
    );

    // Query terms of known selectivity; English stop words are not indexed stemmed, so skip them.
    const stop = new Set(
      (
        await client.query<{ w: string }>(
          `SELECT w FROM unnest($1::text[]) AS w WHERE to_tsvector('english', w) = ''::tsvector`,
          [corpus.words.slice(0, 400)],
        )
      ).rows.map((r) => r.w),
    );
    const near = (share: number, n = terms) => wordsNearShare(corpus, share, n, stop);
    const pairs = (ws: string[]) => ws.slice(0, terms).map((w, i) => `${w} ${ws[(i + 1) % ws.length]}`);
    const phrases = PHRASES.filter((p) => p.split(' ').every((w) => !stop.has(w))).map((p) => `"${p}"`);
    const classes: QueryClass[] = [
      { name: '1 word, rare (0.01%)', queries: near(0.0001) },
      { name: '1 word, 1%', queries: near(0.01) },
      { name: '1 word, common (20%)', queries: near(0.2) },
      { name: '2 words, 5% each', queries: pairs(near(0.05, terms + 1)) },
      { name: '2 words, 20% each', queries: pairs(near(0.2, terms + 1)) },
      { name: 'phrase', queries: phrases },
    ];
    const dfOf = (w: string) => corpus.documentFrequency[corpus.words.indexOf(w)] ?? 0;
    result.inputs.classes = classes.map((c) => ({
      ...c,
      documentFrequency: c.queries.map((q) => q.replace(/"/g, '').split(' ').map(dfOf)),
    }));

    const db = opened.db as unknown as Db;
    type Variant = { name: string; run: (q: string) => Promise<unknown>; samples?: number };
    const variants: Variant[] = [
      ...candidateSweep.map((n) => ({
        name: `product (bounded, ${n} candidates)${n === DEFAULT_SEARCH_CANDIDATES ? ' [default]' : ''}`,
        run: (q: string) => searchTranscriptsRanked(db, q, { candidates: n }),
      })),
      {
        name: `previous: first ${DEFAULT_SEARCH_CANDIDATES} matches, no tiers`,
        run: (q) => searchFirstMatches(db, q, DEFAULT_SEARCH_CANDIDATES),
      },
      { name: 'before: rank every match', run: (q) => searchRankingEveryMatch(db, q) },
      { name: 'naive GIN + ORDER BY ts_rank', run: (q) => client.query(NAIVE_SQL, [q]) },
      {
        name: 'ILIKE',
        samples: ilikeTerms,
        run: (q) => {
          const words = q.replace(/"/g, '').split(' ');
          return client.query(
            ilikeSql(words.length),
            words.map((w) => `%${w}%`),
          );
        },
      },
    ];

    const only = option(argv, 'variants', '');
    if (only)
      variants.splice(
        0,
        variants.length,
        ...variants.filter((v) => only.split(',').some((o) => v.name.startsWith(o))),
      );
    // Warm-up: every query once per variant (untimed; ILIKE's few too).
    for (const v of variants)
      for (const c of classes) for (const q of c.queries.slice(0, v.samples ?? Infinity)) await v.run(q);

    const latency: Array<Record<string, string | number>> = [];
    for (const c of classes) {
      for (const v of variants) {
        const ms: number[] = [];
        const queries = c.queries.slice(0, v.samples ?? Infinity);
        let saidExact = 0; // the product's pages flagged exact (the last repetition's)
        for (let r = 0; r < (v.samples ? 1 : reps); r++) {
          saidExact = 0;
          for (const q of queries) {
            const t = await time(() => v.run(q));
            ms.push(t.ms);
            if ((t.value as { exact?: boolean } | undefined)?.exact === true) saidExact++;
            result.repetitions.push({ class: c.name, variant: v.name, query: q, rep: r, ms: t.ms });
          }
        }
        const s = summarize(ms);
        latency.push({
          class: c.name,
          variant: v.name,
          n: s.n,
          p50: s.p50,
          p95: s.p95,
          p99: s.p99,
          saidExact: v.name.startsWith('product') ? `${saidExact}/${queries.length}` : '',
        });
        log(`${c.name} / ${v.name}: p50 ${s.p50.toFixed(1)} p95 ${s.p95.toFixed(1)} ms`);
      }
    }

    // Recall of the bounded ranking against the exact order.
    const recall: Array<Record<string, string | number>> = [];
    // --skip-recall: latency only (the exact ranking of a common word takes seconds per query).
    for (const c of argv.includes('--skip-recall') ? [] : classes) {
      const exactHits = new Map<string, SearchHit[]>();
      for (const q of c.queries) exactHits.set(q, await searchRankingEveryMatch(db, q));
      const recallVariants = [
        ...candidateSweep.map((n) => ({
          variant: `product, ${n} candidates`,
          run: (q: string) => searchTranscriptsRanked(db, q, { candidates: n }),
        })),
        {
          variant: `previous, first ${DEFAULT_SEARCH_CANDIDATES} matches`,
          run: async (q: string) => ({
            hits: await searchFirstMatches(db, q, DEFAULT_SEARCH_CANDIDATES),
            exact: undefined,
          }),
        },
      ];
      for (const v of recallVariants) {
        const ids: number[] = [];
        const scores: number[] = [];
        let exactQueries = 0;
        for (const q of c.queries) {
          const exact = exactHits.get(q)!;
          const ours = await v.run(q);
          if (ours.exact) exactQueries++;
          ids.push(
            overlap(
              ours.hits.map((h) => h.id),
              exact.map((h) => h.id),
            ),
          );
          const floor = exact.length ? exact[exact.length - 1]!.rank : 0;
          scores.push(
            ours.hits.length ? ours.hits.filter((h) => h.rank >= floor - 1e-9).length / exact.length : 1,
          );
        }
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        recall.push({
          class: c.name,
          variant: v.variant,
          'overlap@20': mean(ids),
          'rank recall@20': mean(scores),
          'said exact': v.variant.startsWith('previous') ? '–' : `${exactQueries}/${c.queries.length}`,
        });
      }
    }

    // Plans of the first query of each class: the product's and the naive one.
    const plans: Record<string, Record<string, string>> = {};
    const explain = async (text: string, params: unknown[]) =>
      (await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, params)).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    for (const c of classes) {
      const q = c.queries[0]!;
      const anyLanguage = (
        await client.query<{ q: string }>('SELECT audio_pipeline_any_language_tsquery($1)::text AS q', [q])
      ).rows[0]!.q;
      const productSql = rankedSearchSql(q, anyLanguage, {
        limit: 20,
        offset: 0,
        candidates: DEFAULT_SEARCH_CANDIDATES,
        headlineOptions: 'MaxFragments=2',
      });
      const productPlan = await db.execute<Record<string, string>>(
        sql`EXPLAIN (ANALYZE, BUFFERS) ${productSql}`,
      );
      const tierSql = rankedSearchSql(q, anyLanguage, {
        limit: 20,
        offset: 0,
        candidates: DEFAULT_SEARCH_CANDIDATES,
        headlineOptions: 'MaxFragments=2',
        tiers: { bounded: tierQuery(tsqueryLexemes(anyLanguage), 8) },
      });
      const tierPlan = await db.execute<Record<string, string>>(sql`EXPLAIN (ANALYZE, BUFFERS) ${tierSql}`);
      plans[c.name] = {
        query: q,
        product: productPlan.rows.map((r) => r['QUERY PLAN']).join('\n'),
        'product, tier 8 statement': tierPlan.rows.map((r) => r['QUERY PLAN']).join('\n'),
        naive: await explain(NAIVE_SQL, [q]),
      };
    }

    result.summary = {
      loadS: loadS.ms / 1000,
      ginBuildS: build.ms / 1000,
      tiersGinBuildS: tiersBuild.ms / 1000,
      sizes,
      goal: 'p95 < 20 ms for every class',
      latencyMs: latency,
      recall,
      plans,
    };
    const file = writeResult(result);
    const fmt = (x: string | number) => (typeof x === 'number' ? Math.round(x * 10) / 10 : x);
    console.log(
      `search: ${rows} transcripts, GIN build ${(build.ms / 1000).toFixed(1)} s, tiers GIN ${(tiersBuild.ms / 1000).toFixed(1)} s, sizes ${JSON.stringify(sizes)}\n`,
    );
    console.log(
      table(
        ['class', 'variant', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'said exact', 'goal p95 < 20'],
        latency.map((l) => [
          l.class as string,
          l.variant as string,
          l.n as number,
          fmt(l.p50!),
          fmt(l.p95!),
          fmt(l.p99!),
          l.saidExact as string,
          String(l.variant).startsWith('product') ? ((l.p95 as number) < 20 ? 'met' : 'MISSED') : '',
        ]),
      ),
    );
    console.log('');
    console.log(
      table(
        ['class', 'variant', 'overlap@20', 'rank recall@20', 'said exact'],
        recall.map((r) => [
          r.class as string,
          r.variant as string,
          fmt(r['overlap@20']!),
          fmt(r['rank recall@20']!),
          r['said exact'] as string,
        ]),
      ),
    );
    console.log(`\nwrote ${file}`);
  } finally {
    await client.end().catch(() => {});
    await opened.close().catch(() => {});
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
