/**
 * store — clips stored per second (audio_files + audio_metadata + transcripts rows): the
 * product's store (db/queries/store-archive.ts storeArchive — one archive per transaction,
 * multi-row upserts, as the store activity calls it) vs. one INSERT per row per table, the way
 * the seed's psycopg2 code did it (`cursor.execute(INSERT … VALUES (…))` three times per clip,
 * one commit per archive — a transaction per archive is the kindest version of it). The same
 * rows (built by db/queries/clip-rows.ts), the same throwaway Debian PostgreSQL 15; the tables
 * are emptied before every repetition, and the two alternate.
 */
import pg from 'pg';
import { openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { audioFileRow, audioMetadataRow, transcriptRow } from '../db/queries/clip-rows.ts';
import type { Db } from '../db/queries/database.ts';
import { storeArchive } from '../db/queries/store-archive.ts';
import type { ArchiveRecord, ClipRecord, TranscriptRecord } from '../lib/manifest.ts';
import type { ClipMetadata } from '../lib/metadata/types.ts';
import { startPostgres15Cluster } from '../test/support/postgres.ts';
import { createCorpus } from './lib/word-corpus.ts';
import { option, startResult, table, writeResult } from './lib/report.ts';
import { median } from './lib/stats.ts';

const DATE = '2025-06-01';

function archives(count: number, clipsPerArchive: number): ArchiveRecord[] {
  const corpus = createCorpus({ seed: 42 });
  return Array.from({ length: count }, (_, a) => {
    const archive = `${DATE}_${String(Math.floor(a / 6)).padStart(2, '0')}-${String((a % 6) * 10).padStart(2, '0')}`;
    const clips: ClipRecord[] = [];
    const metadata = new Map<string, ClipMetadata>();
    const transcripts: TranscriptRecord[] = [];
    for (let c = 0; c < clipsPerArchive; c++) {
      const id = String(7_400_000_000_000_000_000n + BigInt(a * 10_000 + c));
      clips.push({
        id,
        date: DATE,
        archive,
        sourceName: `${id}.mp3`,
        status: 'converted',
        error: null,
        mp3Path: `/staging/${DATE}/${archive}/audio/${id}.mp3`,
        mp3Bytes: 480_000,
        opusPath: `/staging/${DATE}/${archive}/opus/${id}.opus`,
        opusBytes: 120_000,
        storageUri: null,
        durationS: 30,
        sha256: 'ab'.repeat(32),
        hasMetadata: true,
      });
      const text = corpus.next();
      metadata.set(id, {
        id,
        audioFile: `${id}.mp3`,
        createTime: `${DATE}T10:21:07.000Z`,
        description: text.slice(0, 120) + ' #fyp',
        hashtags: ['fyp', 'foryou'],
        mentions: [],
        isAd: false,
        videoDuration: 30,
        music: { id: '7000000000000000001', title: 'original sound', authorName: 'someone', original: true },
        region: 'US',
        sourceQuery: 'fyp',
        collectedAt: `${DATE}T10:25:00.000Z`,
        author: {
          id: '6800000000000000001',
          uniqueId: 'someone',
          nickname: 'Some One',
          verified: false,
          followerCount: '1200',
          followingCount: '30',
          heartCount: '45000',
          videoCount: '88',
        },
        stats: {
          playCount: '1000',
          diggCount: '100',
          shareCount: '10',
          commentCount: '5',
          collectCount: '2',
        },
        location: {
          locationCreated: 'US',
          poiId: null,
          poiName: null,
          poiAddress: null,
          poiCity: null,
          poiProvince: null,
          poiCountry: null,
        },
        raw: { id, desc: text.slice(0, 120), video_duration: 30 },
      });
      transcripts.push({
        id,
        model: 'tiny.en',
        language: 'en',
        language_prob: 0.99,
        text,
        no_speech: false,
        duration_s: 30,
        segments: [{ start: 0, end: 30, text, avg_logprob: -0.2, no_speech_prob: 0.01 }],
        timings: { decode_ms: 800 },
      });
    }
    return { date: DATE, archive, clips, metadata, transcripts };
  });
}

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

async function rowByRow(client: pg.Client, rec: ArchiveRecord): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const clip of rec.clips) {
      const meta = rec.metadata.get(clip.id);
      const exec = (table: string, row: Record<string, unknown>) => {
        const s = insertStatement(table, row);
        return client.query(s.text, s.values);
      };
      await exec('audio_files', audioFileRow(rec.date, rec.archive, clip, meta) as Record<string, unknown>);
      if (meta) await exec('audio_metadata', audioMetadataRow(meta) as Record<string, unknown>);
      const t = rec.transcripts.find((x) => x.id === clip.id);
      if (t) {
        const row = transcriptRow(t) as Record<string, unknown>;
        row.segments = JSON.stringify(row.segments);
        await exec('transcripts', row);
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
}

async function main(argv: string[]) {
  const quick = argv.includes('--quick');
  const count = Number(option(argv, 'archives', quick ? '4' : '20'));
  const perArchive = Number(option(argv, 'clips', '100'));
  const reps = Number(option(argv, 'reps', quick ? '2' : '3'));
  const recs = archives(count, perArchive);
  const clips = count * perArchive;
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
    const variants: Record<string, () => Promise<void>> = {
      'ours (storeArchive)': async () => {
        for (const rec of recs) await storeArchive(opened.db as unknown as Db, rec);
      },
      'one INSERT per row per table': async () => {
        for (const rec of recs) await rowByRow(client, rec);
      },
    };
    const rates: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
    for (let r = 0; r < reps; r++) {
      for (const [name, go] of Object.entries(variants)) {
        await client.query('TRUNCATE audio_files, audio_metadata, transcripts');
        const t0 = performance.now();
        await go();
        const s = (performance.now() - t0) / 1000;
        const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM transcripts');
        if (rows[0]!.n !== clips) throw new Error(`${name} stored ${rows[0]!.n} transcripts, not ${clips}`);
        rates[name]!.push(clips / s);
        result.repetitions.push({ rep: r, variant: name, seconds: s, clipsPerS: clips / s });
        process.stderr.write(`rep ${r} ${name}: ${(clips / s).toFixed(0)} clips/s\n`);
      }
    }
    const ours = median(rates['ours (storeArchive)']!);
    const naive = median(rates['one INSERT per row per table']!);
    result.summary = {
      medianClipsPerS: { ours, rowByRow: naive },
      ratio: ours / naive,
      goal: '>= 20×',
      met: ours / naive >= 20,
    };
    const file = writeResult(result);
    console.log(
      `store: ${count} archives × ${perArchive} clips (3 rows each), ${reps} repetitions (median)\n`,
    );
    console.log(
      table(
        ['writer', 'clips/s (median)', 'each repetition', 'ratio', 'goal'],
        Object.entries(rates).map(([name, xs], i) => [
          name,
          median(xs),
          xs.map((x) => x.toFixed(0)).join(' '),
          i === 0 ? `${(ours / naive).toFixed(1)}×` : '1×',
          i === 0 ? '≥ 20×' : '',
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
