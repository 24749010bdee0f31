/**
 * store — clips stored per second (audio_files + audio_metadata + transcripts rows): the
 * product's store (db/queries/store-archive.ts storeArchive — one archive per transaction,
 * multi-row upserts, as the store activity calls it) vs. one INSERT per row per table, the way
 * the seed's psycopg2 code did it: `cursor.execute("INSERT … VALUES (%s, …)", row)` three times
 * per clip. psycopg2's connections start with autocommit off: the first execute opens a
 * transaction that lasts until the code calls `conn.commit()` — so the faithful baseline is one
 * transaction per unit of work the code commits, here one per archive (the same unit as ours).
 * Committing every row would need `autocommit = True` or a commit per execute: measured as well,
 * as a reference (not the ratio's baseline). psycopg2 interpolates the
 * values into the SQL text client-side; the baseline binds them as parameters instead (one round
 * trip per statement either way; the interpolated form measured 10–15% slower here, so the
 * bench keeps the faster one). The same rows (built by db/queries/clip-rows.ts), the same
 * throwaway Debian PostgreSQL 15; the tables are emptied before every repetition, and the
 * variants alternate.
 */
import pg from 'pg';
import { openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { audioFileRow, audioMetadataRow, transcriptRow } from '../db/queries/clip-rows.ts';
import type { Db } from '../db/queries/database.ts';
import { storeArchive } from '../db/queries/store-archive.ts';
import type { ArchiveRecord } from '../lib/manifest.ts';
import { startPostgres15Cluster } from '../test/support/postgres.ts';
import { storeBenchArchives } from './lib/store-rows.ts';
import { option, startResult, table, writeResult } from './lib/report.ts';
import { median } from './lib/stats.ts';

/** INSERT INTO <table> (<columns>) VALUES ($1, …): one statement per row, as psycopg2 code does. */
function insertStatement(table: string, row: Record<string, unknown>): { text: string; values: unknown[] } {
  const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const keys = Object.keys(row).filter((k) => row[k] !== undefined);
  return {
    text: `INSERT INTO ${table} (${keys.map(snake).join(', ')}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(', ')})`,
    values: keys.map((k) => {
      const v = row[k];
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? JSON.stringify(v) : v;
    }),
  };
}

/** One INSERT per row per table; a commit per archive, or per statement with `autocommit`. */
async function rowByRow(client: pg.Client, rec: ArchiveRecord, autocommit = false): Promise<void> {
  const transcriptOf = new Map(rec.transcripts.map((t) => [t.id, t]));
  if (!autocommit) await client.query('BEGIN');
  try {
    for (const clip of rec.clips) {
      const meta = rec.metadata.get(clip.id);
      const exec = (table: string, row: Record<string, unknown>) => {
        const s = insertStatement(table, row);
        return client.query(s.text, s.values);
      };
      await exec('audio_files', audioFileRow(rec.date, rec.archive, clip, meta) as Record<string, unknown>);
      if (meta) await exec('audio_metadata', audioMetadataRow(meta) as Record<string, unknown>);
      const t = transcriptOf.get(clip.id);
      if (t) {
        const row = transcriptRow(t) as Record<string, unknown>;
        row.segments = JSON.stringify(row.segments);
        await exec('transcripts', row);
      }
    }
    if (!autocommit) await client.query('COMMIT');
  } catch (err) {
    if (!autocommit) await client.query('ROLLBACK');
    throw err;
  }
}

async function main(argv: string[]) {
  const quick = argv.includes('--quick');
  const count = Number(option(argv, 'archives', quick ? '4' : '20'));
  const perArchive = Number(option(argv, 'clips', '100'));
  const reps = Number(option(argv, 'reps', quick ? '2' : '3'));
  const recs = storeBenchArchives(count, perArchive);
  const result = startResult('store', quick, {
    archives: count,
    clipsPerArchive: perArchive,
    reps,
    server: 'Debian PostgreSQL 15, defaults',
  });
  const cluster = await startPostgres15Cluster();
  const opened = await openDatabase({ dataDir: '/nonexistent', databaseUrl: cluster.serverUrl });
  const client = new pg.Client({ connectionString: cluster.serverUrl });
  await client.connect();
  try {
    result.versions.postgresql = (await client.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    await migrate(opened.db);
    const db = opened.db as unknown as Db;
    const OURS = 'ours (storeArchive, 1 transaction/archive)';
    const BASELINE = 'one INSERT per row per table (1 commit/archive)';
    const AUTOCOMMIT = 'one INSERT per row per table, autocommit (reference)';
    const variants: {
      name: string;
      archives: ArchiveRecord[];
      store: (rec: ArchiveRecord) => Promise<unknown>;
    }[] = [
      { name: OURS, archives: recs, store: (rec) => storeArchive(db, rec) },
      { name: BASELINE, archives: recs, store: (rec) => rowByRow(client, rec) },
      { name: AUTOCOMMIT, archives: recs, store: (rec) => rowByRow(client, rec, true) },
    ];
    const rates: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
    for (let r = 0; r < reps; r++) {
      for (const { name, archives, store } of variants) {
        const clips = archives.length * perArchive;
        await client.query('TRUNCATE audio_files, audio_metadata, transcripts');
        const t0 = performance.now();
        for (const rec of archives) await store(rec);
        const s = (performance.now() - t0) / 1000;
        const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM transcripts');
        if (rows[0]!.n !== clips) throw new Error(`${name} stored ${rows[0]!.n} transcripts, not ${clips}`);
        rates[name]!.push(clips / s);
        result.repetitions.push({ rep: r, variant: name, clips, seconds: s, clipsPerS: clips / s });
        process.stderr.write(`rep ${r} ${name}: ${(clips / s).toFixed(0)} clips/s\n`);
      }
    }
    const ours = median(rates[OURS]!);
    const naive = median(rates[BASELINE]!);
    const autocommit = median(rates[AUTOCOMMIT]!);
    result.summary = {
      medianClipsPerS: { ours, rowByRow: naive, rowByRowAutocommit: autocommit },
      ratio: ours / naive,
      ratioToAutocommit: ours / autocommit,
      goal: '>= 20× one INSERT per row per table (1 commit/archive)',
      met: ours / naive >= 20,
    };
    const file = writeResult(result);
    console.log(
      `store: ${count} archives × ${perArchive} clips (3 rows each), ${reps} repetitions (median)\n`,
    );
    console.log(
      table(
        ['writer', 'clips/s (median)', 'each repetition', 'ours ×', 'goal'],
        Object.entries(rates).map(([name, xs]) => [
          name,
          median(xs),
          xs.map((x) => x.toFixed(0)).join(' '),
          name === OURS ? '' : `${(ours / median(xs)).toFixed(1)}×`,
          name === BASELINE ? '≥ 20×' : '',
        ]),
      ),
    );
    console.log(`\nwrote ${file}`);
  } finally {
    await client.end().catch(() => {});
    await opened.close().catch(() => {});
    await cluster.close();
  }
}

await main(process.argv.slice(2));
