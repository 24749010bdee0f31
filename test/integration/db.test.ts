/**
 * The database layer against real servers: the embedded PostgreSQL the CLI uses by default AND
 * Debian's PostgreSQL 15 (the oldest supported). The same suite runs on both.
 *
 * Shared setup (`before`): each suite migrates its database and stores the sample archive
 * (DATE / ARCHIVE, ids 73182736455129070xx) with its English and German clips uploaded. Tests
 * only read that archive; a test that writes uses its own date and ids and removes its rows, so
 * each test passes alone (`--test-name-pattern`) and in any order.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { AppDatabase } from '../../db/client.ts';
import { migrate, MIGRATIONS_FOLDER } from '../../db/migrate.ts';
import {
  countsByStatus,
  dateStatus,
  EXPORT_KEYS,
  exportDate,
  getPending,
  markUploaded,
  searchTranscripts,
  storeArchive,
  upsertQueue,
} from '../../db/queries/index.ts';
import { ROWS_PER_STATEMENT } from '../../db/queries/upsert-unless-unchanged.ts';
import {
  rankedSearchSql,
  searchTranscriptsRanked,
  tfRankBound,
  tsqueryLexemes,
} from '../../db/queries/search-transcripts.ts';
import * as schema from '../../db/schema.ts';
import { CLIP_STATUSES, QUEUE_STATUSES } from '../../lib/statuses.ts';
import { BadInputError } from '../../lib/errors.ts';
import type { ArchiveRecord, ClipRecord, TranscriptRecord } from '../../lib/manifest.ts';
import type { ClipMetadata } from '../../lib/metadata/types.ts';
import { startEmbeddedTestPostgres, startPostgres15, type TestPostgres } from '../support/postgres.ts';

const DATE = '2024-01-15';

/** The migrations drizzle-kit generated (db/migrations/meta/_journal.json). */
const migrationCount = (): number =>
  (
    JSON.parse(readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
      entries: unknown[];
    }
  ).entries.length;

const ARCHIVE = '2024-01-15_10-20';

function clip(id: string, overrides: Partial<ClipRecord> = {}): ClipRecord {
  return {
    id,
    date: DATE,
    archive: ARCHIVE,
    sourceName: `${id}.mp3`,
    status: 'converted',
    error: null,
    mp3Path: `/staging/${DATE}/${ARCHIVE}/audio/${id}.mp3`,
    mp3Bytes: 123_456,
    opusPath: `/staging/${DATE}/${ARCHIVE}/opus/${id}.opus`,
    opusBytes: 45_678,
    storageUri: null,
    durationS: 12.5,
    sha256: 'ab'.repeat(32),
    hasMetadata: true,
    ...overrides,
  };
}

function metadata(id: string, overrides: Partial<ClipMetadata> = {}): ClipMetadata {
  return {
    id,
    audioFile: `${id}.mp3`,
    createTime: '2024-01-15T10:21:07.000Z',
    description: 'plain caption #fyp',
    hashtags: ['fyp'],
    mentions: [],
    isAd: false,
    videoDuration: 13,
    music: { id: '7000000000000000001', title: 'original sound', authorName: 'someone', original: true },
    region: 'US',
    sourceQuery: 'fyp',
    collectedAt: '2024-01-15T10:25:00.000Z',
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
    stats: { playCount: '1000', diggCount: '100', shareCount: '10', commentCount: '5', collectCount: '2' },
    location: {
      locationCreated: 'US',
      poiId: null,
      poiName: null,
      poiAddress: null,
      poiCity: null,
      poiProvince: null,
      poiCountry: null,
    },
    raw: { id, desc: 'plain caption #fyp', video_duration: 13, future_column: { nested: [1, 'two', null] } },
    ...overrides,
  };
}

function transcript(id: string, language: string | null, text: string): TranscriptRecord {
  return {
    id,
    model: 'whisper-base',
    language,
    language_prob: 0.9731,
    text,
    no_speech: false,
    duration_s: 12.5,
    segments: [
      {
        start: 0,
        end: 4.2,
        text,
        avg_logprob: -0.21,
        no_speech_prob: 0.01,
        // as WHISPER_WORD_TIMESTAMPS=1 writes them
        words: [{ word: ` ${text.split(' ')[0]}`, start: 0.12, end: 0.48, probability: 0.9312 }],
      },
    ],
    timings: { decode_ms: 812, features_ms: 40 },
  };
}

/** One archive of clips without metadata whose transcripts are English `text(id, i)`. */
async function storeEnglishTexts(
  db: AppDatabase,
  date: string,
  archive: string,
  ids: string[],
  text: (id: string, i: number) => string,
) {
  await storeArchive(db, {
    date,
    archive,
    clips: ids.map((id) => clip(id, { date, archive })),
    metadata: new Map(),
    transcripts: ids.map((id, i) => transcript(id, 'en', text(id, i))),
  });
}

const UNICODE_DESCRIPTION =
  'Emoji 🎉👩‍👩‍👧‍👦🔥 · RTL: مرحبا بالعالم · עברית · 中文 · combining é · "quotes" \\backslash\\ {braces},commas' +
  ' and a NUL\u0000here';
const ODD_HASHTAGS = ['NULL', 'with "quotes"', 'com,ma', '{braces}', 'back\\slash', '🎉', 'مرحبا', ''];
const BEYOND_2_53 = '9007199254740993'; // 2^53 + 1: a double would round it to ...992
const INT64_MAX = '9223372036854775807';

/**
 * The archive most tests use: English, German, Swahili ('simple') speech, a failed clip, a clip
 * without metadata. `variant` (one digit) gives other ids, for a copy stored under another date.
 */
function sampleArchive(variant = '7', date = DATE, archive = ARCHIVE): ArchiveRecord {
  const id = (n: number) => `731827364551290${variant}00${n}`;
  const [en, de, sw, failed, noMeta] = [1, 2, 3, 4, 5].map(id);
  const at = { date, archive };
  const meta = new Map<string, ClipMetadata>([
    [
      en,
      metadata(en, {
        description: UNICODE_DESCRIPTION,
        hashtags: ODD_HASHTAGS,
        author: { ...metadata(en).author, followerCount: BEYOND_2_53, heartCount: INT64_MAX },
        stats: { ...metadata(en).stats, playCount: BEYOND_2_53 },
        raw: { id: en, desc: UNICODE_DESCRIPTION, play_count: BEYOND_2_53, brand_new_column: ['x', 'y'] },
      }),
    ],
    [de, metadata(de, { region: 'DE', description: 'Tschüss! ß ä ö ü' })],
    [sw, metadata(sw, { region: 'KE' })],
    [failed, metadata(failed)],
  ]);
  return {
    date,
    archive,
    clips: [
      clip(en, at),
      clip(de, at),
      clip(sw, at),
      clip(failed, {
        ...at,
        status: 'failed',
        error: 'ffmpeg: Invalid data found when processing input',
        opusPath: null,
        opusBytes: null,
        durationS: null,
        sha256: null,
      }),
      clip(noMeta, { ...at, hasMetadata: false }),
    ],
    metadata: meta,
    transcripts: [
      transcript(en, 'en', 'The dog runs across the park every single morning.'),
      transcript(de, 'de', 'Die alten Häuser am Fluss wurden letztes Jahr renoviert.'),
      transcript(sw, 'sw', 'Habari za asubuhi rafiki yangu mpendwa.'),
      transcript(noMeta, 'en', 'Nobody collected metadata for this talking clip.'),
    ],
  };
}

async function snapshot(db: AppDatabase) {
  return {
    files: (await db.execute(sql`SELECT * FROM audio_files ORDER BY id`)).rows,
    metadata: (await db.execute(sql`SELECT * FROM audio_metadata ORDER BY id`)).rows,
    transcripts: (await db.execute(sql`SELECT * FROM transcripts ORDER BY id`)).rows,
  };
}

const backends: { label: string; start: () => Promise<TestPostgres> }[] = [
  { label: 'embedded PostgreSQL', start: startEmbeddedTestPostgres },
  { label: 'PostgreSQL 15', start: startPostgres15 },
];

for (const backend of backends) {
  describe(`database on ${backend.label}`, () => {
    let server: TestPostgres;
    let pool: pg.Pool;
    let db: AppDatabase;

    before(async () => {
      server = await backend.start();
      pool = new pg.Pool({ connectionString: server.url, max: 4 });
      // As in db/client.ts: an idle client that loses its server (the teardown stops or drops it)
      // emits 'error' on the pool; unhandled, that would crash the test process after the test.
      pool.on('error', () => {});
      db = drizzle({ client: pool, schema }) as AppDatabase;
      await migrate(db);
      await storeArchive(db, sampleArchive());
      await markUploaded(db, DATE, ARCHIVE, [
        { id: '7318273645512907001', storageUri: 'file:///storage/2024-01-15/7318273645512907001.opus' },
        { id: '7318273645512907002', storageUri: 'file:///storage/2024-01-15/7318273645512907002.opus' },
      ]);
    });
    after(async () => {
      await pool?.end();
      await server?.close();
    });

    test('migrate is idempotent', async () => {
      await migrate(db);
      await migrate(db);
      await Promise.all([migrate(db), migrate(db)]); // concurrent CLI processes
      const applied = await db.execute<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`,
      );
      assert.equal(applied.rows[0]!.n, migrationCount(), 'each migration applied once');
      const tables = await db.execute<{ t: string }>(sql`
        SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
      assert.deepEqual(
        tables.rows.map((r) => r.t),
        ['audio_files', 'audio_metadata', 'processing_queue', 'transcripts'],
      );
    });

    test('the status check constraints allow exactly the statuses of lib/statuses.ts', async () => {
      for (const [name, statuses] of [
        ['audio_files_status_check', CLIP_STATUSES],
        ['processing_queue_status_check', QUEUE_STATUSES],
      ] as const) {
        const { rows } = await db.execute<{ def: string }>(
          sql`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = ${name}`,
        );
        const allowed = [...rows[0]!.def.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
        assert.deepEqual(allowed.sort(), [...statuses].sort(), name);
      }
    });

    test('text-search configuration follows the language', async () => {
      const r = await db.execute<{ lang: string | null; cfg: string }>(sql`
        SELECT lang, audio_pipeline_ts_config(lang)::text AS cfg
        FROM unnest(ARRAY['en','de','es','fr','it','pt','nl','ru','sv','pt-BR','EN','english','sw','ja', NULL]) AS lang`);
      const byLang = Object.fromEntries(r.rows.map((x) => [x.lang ?? 'null', x.cfg]));
      assert.deepEqual(byLang, {
        en: 'english',
        de: 'german',
        es: 'spanish',
        fr: 'french',
        it: 'italian',
        pt: 'portuguese',
        nl: 'dutch',
        ru: 'russian',
        sv: 'swedish',
        'pt-BR': 'portuguese',
        EN: 'english',
        english: 'english',
        sw: 'simple',
        ja: 'simple',
        null: 'simple',
      });
    });

    test('storeArchive writes every clip, and a re-run changes nothing', async () => {
      // A copy of the sample archive under a date and ids of its own (variant 6).
      const date = '2024-01-14';
      const sample = () => sampleArchive('6', date, '2024-01-14_10-20');
      const mine = sql`SELECT * FROM audio_files f LEFT JOIN audio_metadata m USING (id) LEFT JOIN transcripts t USING (id) WHERE f.date = ${date} ORDER BY id`;
      try {
        const first = await storeArchive(db, sample());
        assert.deepEqual(first, {
          clips: 5,
          metadata: 4,
          transcripts: 4,
          failed: 1,
          changed: { audioFiles: 5, audioMetadata: 4, transcripts: 4 },
          rejected: [],
        });
        const before = (await db.execute(mine)).rows;
        const second = await storeArchive(db, sample());
        assert.deepEqual(second.changed, { audioFiles: 0, audioMetadata: 0, transcripts: 0 });
        assert.deepEqual((await db.execute(mine)).rows, before, 'identical rows, updated_at included');
        assert.deepEqual(await countsByStatus(db, date), {
          pending: 0,
          converted: 0,
          stored: 4,
          uploaded: 0,
          failed: 1,
        });

        // A changed transcript changes exactly that row.
        const edited = sample();
        edited.transcripts[0] = {
          ...edited.transcripts[0]!,
          text: 'The dog runs across the park every morning.',
        };
        const third = await storeArchive(db, edited);
        assert.deepEqual(third.changed, { audioFiles: 0, audioMetadata: 0, transcripts: 1 });
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('failed clips and clips without metadata are rows with a status', async () => {
      const rows = await db.execute<{
        id: string;
        status: string;
        error: string | null;
        has_metadata: boolean;
        raw: unknown;
        description: string | null;
      }>(sql`SELECT id, status, error, has_metadata, raw, description FROM audio_files ORDER BY id`);
      const byId = Object.fromEntries(rows.rows.map((r) => [r.id, r]));
      assert.equal(byId['7318273645512907004']!.status, 'failed');
      assert.match(byId['7318273645512907004']!.error!, /Invalid data/);
      assert.equal(byId['7318273645512907005']!.has_metadata, false);
      assert.equal(byId['7318273645512907005']!.raw, null);
      assert.equal(byId['7318273645512907005']!.description, null);
      assert.equal(byId['7318273645512907005']!.status, 'stored');
      const meta = await db.execute(sql`SELECT 1 FROM audio_metadata WHERE id = '7318273645512907005'`);
      assert.equal(meta.rows.length, 0);
    });

    test('unicode, emoji, RTL text, odd array elements and int64 beyond 2^53 round-trip', async () => {
      const [file] = await db
        .select()
        .from(schema.audioFiles)
        .where(sql`id = '7318273645512907001'`);
      const expected = UNICODE_DESCRIPTION.replace('\u0000', '');
      assert.equal(file!.description, expected);
      assert.deepEqual(file!.hashtags, ODD_HASHTAGS);
      assert.deepEqual(file!.raw, {
        id: '7318273645512907001',
        desc: expected,
        play_count: BEYOND_2_53,
        brand_new_column: ['x', 'y'],
      });
      const [meta] = await db
        .select()
        .from(schema.audioMetadata)
        .where(sql`id = '7318273645512907001'`);
      assert.equal(meta!.authorFollowerCount, BEYOND_2_53);
      assert.equal(meta!.authorHeartCount, INT64_MAX);
      assert.equal(meta!.playCount, BEYOND_2_53);
      const exact = await db.execute<{ ok: boolean }>(
        sql`SELECT author_follower_count = 9007199254740993 AND author_follower_count <> 9007199254740992 AS ok FROM audio_metadata WHERE id = '7318273645512907001'`,
      );
      assert.equal(exact.rows[0]!.ok, true);
      const [stored] = await db
        .select()
        .from(schema.transcripts)
        .where(sql`id = '7318273645512907001'`);
      assert.deepEqual(
        stored!.segments,
        transcript(stored!.id, stored!.language, stored!.text).segments,
        'segments, their words included, round-trip',
      );
    });

    test('a metadata row without a clip becomes a failed clip row', async () => {
      const id = '7318273645512907301';
      const archive = '2024-01-15_10-50';
      const result = await storeArchive(db, {
        date: DATE,
        archive,
        clips: [],
        metadata: new Map([[id, metadata(id)]]),
        transcripts: [],
      });
      assert.equal(result.failed, 1);
      const [file] = await db
        .select()
        .from(schema.audioFiles)
        .where(sql`id = ${id}`);
      assert.equal(file!.status, 'failed');
      assert.equal(file!.hasMetadata, true);
      assert.match(file!.error!, /without a clip/);
      await db.execute(sql`DELETE FROM audio_files WHERE id = ${id}`);
    });

    test('values a typed column cannot hold become NULL there and stay in raw', async () => {
      const id = '7318273645512907201';
      const archive = '2024-01-15_10-40';
      const tooBig = '92233720368547758070';
      await storeArchive(db, {
        date: DATE,
        archive,
        clips: [clip(id, { archive })],
        metadata: new Map([
          [
            id,
            metadata(id, {
              createTime: 'not a time',
              videoDuration: 12.6,
              stats: { ...metadata(id).stats, playCount: tooBig },
              raw: { id, play_count: tooBig, create_time: 'not a time' },
            }),
          ],
        ]),
        transcripts: [],
      });
      const [file] = await db
        .select()
        .from(schema.audioFiles)
        .where(sql`id = ${id}`);
      assert.equal(file!.createTime, null);
      assert.equal(file!.videoDuration, 13);
      assert.deepEqual(file!.raw, { id, play_count: tooBig, create_time: 'not a time' });
      const [meta] = await db
        .select()
        .from(schema.audioMetadata)
        .where(sql`id = ${id}`);
      assert.equal(meta!.playCount, null);
      await db.execute(sql`DELETE FROM audio_files WHERE id = ${id}`);
    });

    test('one transaction per archive: a failing archive leaves no row', async () => {
      const rec: ArchiveRecord = {
        date: DATE,
        archive: '2024-01-15_10-30',
        clips: [clip('7318273645512907101', { archive: '2024-01-15_10-30' })],
        metadata: new Map(),
        transcripts: [transcript('7318273645512907101', 'en', 'boom')],
      };
      // A failure that is not the input's (a row PostgreSQL refuses fails alone instead): the
      // transcripts insert, the archive's last statement, fails after its clip rows were written.
      await db.execute(sql`CREATE FUNCTION test_fail_boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.text = 'boom' THEN RAISE EXCEPTION 'injected failure' USING ERRCODE = '57014'; END IF;
        RETURN NEW; END $$`);
      await db.execute(sql`CREATE TRIGGER test_fail_boom BEFORE INSERT ON transcripts
        FOR EACH ROW EXECUTE FUNCTION test_fail_boom()`);
      try {
        await assert.rejects(
          storeArchive(db, rec),
          (err: Error) => (err.cause as Error | undefined)?.message === 'injected failure',
        );
      } finally {
        await db.execute(sql`DROP TRIGGER test_fail_boom ON transcripts`);
        await db.execute(sql`DROP FUNCTION test_fail_boom()`);
      }
      const rows = await db.execute(sql`SELECT 1 FROM audio_files WHERE archive = '2024-01-15_10-30'`);
      assert.equal(rows.rows.length, 0);
      await assert.rejects(
        storeArchive(db, { ...rec, transcripts: [transcript('7318273645512907999', 'en', 'stray')] }),
        BadInputError,
      );
    });

    test('large archives are stored in several statements', async () => {
      const n = ROWS_PER_STATEMENT * 2 + 17;
      const archive = '2024-01-16_00-00';
      const ids = Array.from({ length: n }, (_, i) => `90000000000${String(i).padStart(8, '0')}`);
      const rec: ArchiveRecord = {
        date: '2024-01-16',
        archive,
        clips: ids.map((id) => clip(id, { date: '2024-01-16', archive })),
        metadata: new Map(ids.map((id) => [id, metadata(id)])),
        transcripts: ids.map((id) => transcript(id, 'en', `clip number ${id}`)),
      };
      const result = await storeArchive(db, rec);
      assert.deepEqual(result.changed, { audioFiles: n, audioMetadata: n, transcripts: n });
      const again = await storeArchive(db, rec);
      assert.deepEqual(again.changed, { audioFiles: 0, audioMetadata: 0, transcripts: 0 });
      let exported = 0;
      for await (const _row of exportDate(db, '2024-01-16', { pageSize: 700 })) exported++;
      assert.equal(exported, n);
    });

    test('markUploaded sets status and URI, once', async () => {
      const [date, archive] = ['2024-01-13', '2024-01-13_10-20'];
      try {
        await storeArchive(db, sampleArchive('5', date, archive));
        const uploads = ['7318273645512905001', '7318273645512905002', '7318273645512905004'].map((id) => ({
          id,
          storageUri: `file:///storage/2024-01-13/${id}.opus`,
        }));
        assert.equal(await markUploaded(db, date, archive, uploads), 3);
        assert.equal(await markUploaded(db, date, archive, uploads), 0);
        assert.equal(await markUploaded(db, date, 'another-archive', uploads), 0, 'scoped to its archive');
        const counts = await countsByStatus(db, date);
        assert.equal(counts.uploaded, 2);
        assert.equal(counts.failed, 1, 'a failed clip stays failed');
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('re-storing after upload keeps the upload while the Opus file is the same', async () => {
      const date = '2024-04-01';
      const archive = '2024-04-01_00-00';
      const [a, b] = ['7318273645512908001', '7318273645512908002'];
      const rec = (sha: string): ArchiveRecord => ({
        date,
        archive,
        clips: [clip(a, { date, archive, sha256: sha }), clip(b, { date, archive })],
        metadata: new Map([[a, metadata(a)]]),
        transcripts: [transcript(a, 'en', 'first'), transcript(b, 'en', 'second')],
      });
      const uri = (id: string) => `file:///storage/${date}/${id}.opus`;
      try {
        await storeArchive(db, rec('ab'.repeat(32)));
        const uploads = [a, b].map((id) => ({ id, storageUri: uri(id) }));
        assert.equal(await markUploaded(db, date, archive, uploads), 2);
        const uploaded = await snapshot(db);

        // The manifest rebuilt after cleanup: status 'stored', no storage URI.
        const again = await storeArchive(db, rec('ab'.repeat(32)));
        assert.deepEqual(again.changed, { audioFiles: 0, audioMetadata: 0, transcripts: 0 });
        assert.deepEqual(await snapshot(db), uploaded, 'nothing rewritten');
        assert.equal((await countsByStatus(db, date)).uploaded, 2);
        assert.equal(await markUploaded(db, date, archive, uploads), 0);

        // A different Opus file: stored again without the stale URI, then uploaded anew.
        const changed = await storeArchive(db, rec('cd'.repeat(32)));
        assert.equal(changed.changed.audioFiles, 1);
        const rows = await db.execute<{ id: string; status: string; storage_uri: string | null }>(
          sql`SELECT id, status, storage_uri FROM audio_files WHERE date = ${date} ORDER BY id`,
        );
        assert.deepEqual(rows.rows, [
          { id: a, status: 'stored', storage_uri: null },
          { id: b, status: 'uploaded', storage_uri: uri(b) },
        ]);
        assert.equal(await markUploaded(db, date, archive, uploads), 1);
        assert.equal((await countsByStatus(db, date)).uploaded, 2);
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('a failed row from another archive does not replace a good row for the same video', async () => {
      const date = '2024-04-02';
      const [archiveA, archiveB] = ['2024-04-02_00-00', '2024-04-02_00-10'];
      const [shared, other] = ['7318273645512908101', '7318273645512908102'];
      const status = async () =>
        (
          await db.execute<{ id: string; archive: string; status: string; error: string | null }>(
            sql`SELECT id, archive, status, error FROM audio_files WHERE date = ${date} ORDER BY id`,
          )
        ).rows;
      try {
        await storeArchive(db, {
          date,
          archive: archiveA,
          clips: [clip(shared, { date, archive: archiveA })],
          metadata: new Map([[shared, metadata(shared)]]),
          transcripts: [transcript(shared, 'en', 'kept')],
        });
        // Archive B has the video's metadata but not its clip (a failed row), plus a clip of its own.
        const recB: ArchiveRecord = {
          date,
          archive: archiveB,
          clips: [clip(other, { date, archive: archiveB })],
          metadata: new Map([
            [shared, metadata(shared)],
            [other, metadata(other)],
          ]),
          transcripts: [],
        };
        const b = await storeArchive(db, recB);
        assert.equal(b.failed, 1);
        assert.equal(b.changed.audioFiles, 1, 'only its own clip');
        assert.deepEqual(await status(), [
          { id: shared, archive: archiveA, status: 'stored', error: null },
          { id: other, archive: archiveB, status: 'stored', error: null },
        ]);
        // Not after upload either.
        await markUploaded(db, date, archiveA, [{ id: shared, storageUri: 'file:///s/shared.opus' }]);
        assert.equal((await storeArchive(db, recB)).changed.audioFiles, 0);
        assert.equal((await status())[0]!.status, 'uploaded');

        // The other way round: a good row replaces another archive's failed row…
        await storeArchive(db, {
          date,
          archive: archiveA,
          clips: [
            clip(other, { date, archive: archiveA, status: 'failed', error: 'ffmpeg: boom', sha256: null }),
          ],
          metadata: new Map(),
          transcripts: [],
        });
        assert.equal((await status())[1]!.archive, archiveB, 'the failed row did not replace it');
        await db.execute(sql`UPDATE audio_files SET status = 'failed', error = 'x' WHERE id = ${other}`);
        assert.equal((await storeArchive(db, recB)).changed.audioFiles, 1);
        assert.deepEqual((await status())[1], {
          id: other,
          archive: archiveB,
          status: 'stored',
          error: null,
        });
        // …and an archive's own failure replaces its own row.
        await storeArchive(db, {
          date,
          archive: archiveB,
          clips: [
            clip(other, { date, archive: archiveB, status: 'failed', error: 'ffmpeg: boom', sha256: null }),
          ],
          metadata: new Map(),
          transcripts: [],
        });
        assert.deepEqual((await status())[1], {
          id: other,
          archive: archiveB,
          status: 'failed',
          error: 'ffmpeg: boom',
        });
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('archives sharing videos, stored concurrently in opposite orders, do not deadlock', async () => {
      const date = '2024-04-03';
      // Several statements per table, so that the two transactions interleave.
      const n = ROWS_PER_STATEMENT * 2 + 100;
      const ids = Array.from({ length: n }, (_, i) => `73182736455130${String(i).padStart(5, '0')}`);
      const rec = (archive: string, order: string[]): ArchiveRecord => ({
        date,
        archive,
        clips: order.map((id) => clip(id, { date, archive })),
        metadata: new Map(order.map((id) => [id, metadata(id, { description: archive })])),
        transcripts: order.map((id) => transcript(id, 'en', `said in ${archive}`)),
      });
      try {
        for (let round = 0; round < 2; round++) {
          const [a, b] = [`2024-04-03_0${round}-00`, `2024-04-03_0${round}-10`];
          // drizzle wraps the server's error; its cause says "deadlock detected".
          const results = await Promise.all([
            storeArchive(db, rec(a, ids)),
            storeArchive(db, rec(b, [...ids].reverse())),
          ]).catch((error: unknown) => {
            throw (error as { cause?: unknown }).cause ?? error;
          });
          for (const r of results) assert.equal(r.clips, ids.length);
          const rows = await db.execute<{ n: number }>(
            sql`SELECT count(*)::int AS n FROM audio_files WHERE date = ${date} AND archive IN (${a}, ${b})`,
          );
          assert.equal(rows.rows[0]!.n, ids.length);
        }
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('search finds stems, German words and simple-config words', async () => {
      const en = await searchTranscripts(db, 'running');
      assert.deepEqual(
        en.map((h) => h.id),
        ['7318273645512907001'],
        '"running" finds "runs"',
      );
      assert.match(en[0]!.snippet, /«runs»/);
      assert.equal(en[0]!.date, DATE);
      assert.equal(en[0]!.archive, ARCHIVE);
      assert.equal(en[0]!.language, 'en');
      assert.ok(typeof en[0]!.rank === 'number' && en[0]!.rank > 0);

      const de = await searchTranscripts(db, 'Haus');
      assert.deepEqual(
        de.map((h) => h.id),
        ['7318273645512907002'],
        '"Haus" finds "Häuser" through the German stemmer',
      );
      const deExact = await searchTranscripts(db, 'renoviert');
      assert.deepEqual(
        deExact.map((h) => h.id),
        ['7318273645512907002'],
      );

      const sw = await searchTranscripts(db, 'asubuhi');
      assert.deepEqual(
        sw.map((h) => h.id),
        ['7318273645512907003'],
      );
      assert.equal(sw[0]!.language, 'sw');

      assert.deepEqual((await searchTranscripts(db, 'park', { language: 'de' })).length, 0);
      assert.deepEqual(
        (await searchTranscripts(db, 'park', { language: 'en' })).map((h) => h.id),
        ['7318273645512907001'],
      );
      assert.deepEqual(await searchTranscripts(db, '   '), []);
      // An English stop word alone: the English parse is empty, the simple one still matches.
      assert.ok((await searchTranscripts(db, 'the')).some((h) => h.id === '7318273645512907001'));
      assert.deepEqual(
        (await searchTranscripts(db, '"talking clip"')).map((h) => h.id),
        ['7318273645512907005'],
      );
      assert.deepEqual((await searchTranscripts(db, 'dog -park')).length, 0);
      for (const odd of ["o'reilly & (", 'a:*', '!!!', '"unclosed', 'OR OR -', '🎉']) {
        assert.ok(Array.isArray(await searchTranscripts(db, odd)), `no syntax error for ${odd}`);
      }
      const marked = await searchTranscripts(db, 'park', { highlight: { start: '<mark>', stop: '</mark>' } });
      assert.match(marked[0]!.snippet, /<mark>park<\/mark>/);
    });

    test('search can use the GIN index', async () => {
      const client = await pool.connect();
      try {
        await client.query('SET enable_seqscan = off');
        const plan = await client.query(
          `EXPLAIN SELECT id FROM transcripts t WHERE t.tsv @@ audio_pipeline_any_language_tsquery('running')`,
        );
        assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /transcripts_tsv_idx/);
      } finally {
        await client.query('RESET enable_seqscan');
        client.release();
      }
    });

    test('search ranks hits by how often the words occur, then by id; limit and offset page them', async () => {
      const [date, archive] = ['2024-05-01', '2024-05-01_00-00'];
      const texts: Record<string, string> = {
        '7318273645513100001': 'A guitar hangs on the wall next to the door.', // 1 ×, ties with …04
        '7318273645513100002': 'Guitar, guitar, guitar: three guitar lessons and a guitar shop.', // 5 ×
        '7318273645513100003': 'Nothing about that instrument here, only a piano.', // no hit
        '7318273645513100004': 'My old guitar is out of tune again.', // 1 ×
        '7318273645513100005': 'She plays the guitar and he plays the guitar too.', // 2 ×
        '7318273645513100006': 'The guitar player tuned his guitar before the guitar solo.', // 3 ×
      };
      const ids = Object.keys(texts);
      try {
        await storeEnglishTexts(db, date, archive, ids, (id) => texts[id]!);
        const all = await searchTranscripts(db, 'guitar', { date });
        assert.deepEqual(
          all.map((h) => h.id),
          [
            '7318273645513100002',
            '7318273645513100006',
            '7318273645513100005',
            '7318273645513100001',
            '7318273645513100004',
          ],
          'more occurrences first; equal ranks by id',
        );
        const ranks = all.map((h) => h.rank);
        assert.ok(ranks[0]! > ranks[1]! && ranks[1]! > ranks[2]! && ranks[2]! > ranks[3]!, `ranks ${ranks}`);
        assert.equal(ranks[3], ranks[4], 'one occurrence each: the same rank');

        const page = (limit: number, offset: number) =>
          searchTranscripts(db, 'guitar', { date, limit, offset }).then((hits) => hits.map((h) => h.id));
        const ranked = all.map((h) => h.id);
        assert.deepEqual(await page(2, 0), ranked.slice(0, 2));
        assert.deepEqual(await page(2, 2), ranked.slice(2, 4));
        assert.deepEqual(await page(2, 4), ranked.slice(4));
        assert.deepEqual(await page(3, 1), ranked.slice(1, 4));
        assert.deepEqual(await page(2, 5), []);
        assert.deepEqual(await page(0, 0), ranked.slice(0, 1), 'limit is at least 1');
        assert.deepEqual(await page(10, -3), ranked, 'a negative offset counts as 0');
        // Several words: a hit on both ranks above hits on one.
        const both = await searchTranscripts(db, 'guitar tune', { date });
        assert.equal(both[0]!.id, '7318273645513100004', 'the only text with both words, first');
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('search ranks the transcripts that repeat the word first, exact without ranking every match', async () => {
      const [date, archive] = ['2024-05-02', '2024-05-02_00-00'];
      // 'violin' 1..6 times (tsv holds it at 2..12 positions: its English stem is the word
      // itself, so both parses add one); six more transcripts say 'cello' once each.
      const ids = [1, 2, 3, 4, 5, 6].map((n) => `731827364551320000${n}`);
      const texts = ids.map((_, i) => `${'violin '.repeat(i + 1)}played at the concert hall`);
      const cellos = [1, 2, 3, 4, 5, 6].map((n) => `731827364551321000${n}`);
      try {
        await storeArchive(db, {
          date,
          archive,
          clips: [...ids, ...cellos].map((id) => clip(id, { date, archive })),
          metadata: new Map(),
          transcripts: [
            ...ids.map((id, i) => transcript(id, 'en', texts[i]!)),
            ...cellos.map((id) => transcript(id, 'en', 'a cello solo tonight')),
          ],
        });
        const exact = await searchTranscriptsRanked(db, 'violins', { date, candidates: 6 });
        assert.equal(exact.exact, true, '6 matches, 6 candidates: every match ranked');
        assert.deepEqual(
          exact.hits.map((h) => h.id),
          [...ids].reverse(),
          'most occurrences first (the stem finds "violin")',
        );
        assert.match(exact.hits[0]!.snippet, /«violin»/);
        assert.equal(exact.hits[0]!.date, date);

        // 3 candidates for 6 matches, but the three that say it 4–6 times (tsv_tiers 'violin#8')
        // are all that can rank above 7 positions: the first two pages are exact.
        const top = await searchTranscriptsRanked(db, 'violin', { date, candidates: 3, limit: 2 });
        assert.deepEqual(top, {
          hits: (await searchTranscriptsRanked(db, 'violin', { date, candidates: 6, limit: 2 })).hits,
          exact: true,
        });
        const second = await searchTranscriptsRanked(db, 'violin', {
          date,
          candidates: 3,
          limit: 2,
          offset: 2,
        });
        assert.equal(
          second.exact,
          true,
          "the 4th says it 3 times: tier 6 ('violin#6', migration 0004) holds 4, within the bound of 4",
        );
        assert.equal(second.hits.length, 2, 'the bound never cuts a page short');
        assert.equal(second.hits[0]!.id, ids[3], 'the tier above is always among the candidates');

        // Six ties (one 'cello' each): over the bound, the best of the candidates, flagged.
        const ties = await searchTranscriptsRanked(db, 'cello', { date, candidates: 3, limit: 2 });
        assert.equal(ties.exact, false, '6 matches, 3 candidates: approximate');
        assert.equal(ties.hits.length, 2);
        for (const hit of ties.hits) {
          assert.ok(cellos.includes(hit.id));
          assert.match(hit.snippet, /«cello»/);
        }
        assert.equal(
          (await searchTranscriptsRanked(db, 'cello', { date, candidates: 1, limit: 6 })).exact,
          true,
          'limit 6 raises the bound to 6',
        );
        // A language no clip has: no hits, and exact (nothing was left unranked).
        assert.deepEqual(await searchTranscriptsRanked(db, 'violin', { date, language: 'xx' }), {
          hits: [],
          exact: true,
        });
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('a search that says exact returns the ranks of ranking every match', async () => {
      const [date, archive] = ['2024-05-03', '2024-05-03_00-00'];
      // 300 transcripts over 12 words, each word said k times with probability e^-k (k ≥ 1) by a
      // fixed generator: a word is in ~110 transcripts, twice or more in ~40, 4 times in ~5.
      const words = [
        'harp',
        'drum',
        'flute',
        'oboe',
        'horn',
        'bass',
        'lute',
        'gong',
        'bell',
        'fife',
        'tuba',
        'sitar',
      ];
      let seed = 7;
      const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
      const ids = Array.from({ length: 300 }, (_, i) => String(7_318_273_645_513_300_000n + BigInt(i)));
      const texts = ids.map(
        () =>
          words
            .flatMap((w) => Array<string>(Math.floor(-Math.log(1 - next()))).fill(w))
            .sort(() => next() - 0.5)
            .join(' ') || 'silence',
      );
      try {
        await storeEnglishTexts(db, date, archive, ids, (_, i) => texts[i]!);
        let exactAnswers = 0;
        for (const query of [
          'harp',
          'drum',
          'tuba',
          'harp drum',
          'flute or oboe',
          'bass -gong',
          '"horn bass"',
        ]) {
          const everyMatch = await searchTranscriptsRanked(db, query, { date, candidates: 1000, limit: 10 });
          assert.equal(everyMatch.exact, true);
          const ours = await searchTranscriptsRanked(db, query, { date, candidates: 50, limit: 10 });
          if (!ours.exact) continue;
          exactAnswers++;
          assert.deepEqual(
            ours.hits.map((h) => h.rank),
            everyMatch.hits.map((h) => h.rank),
            `"${query}": the ranks of the exact top 10`,
          );
        }
        assert.ok(exactAnswers >= 5, `exact answers to ${exactAnswers} of 7 queries with 50 candidates`);
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('two words whose low repetition tiers hold less than a page: the page is filled from below', async () => {
      const [date, archive] = ['2024-05-05', '2024-05-05_00-00'];
      // 200 transcripts say both words once, then 3 say them 8 times and 4 twice (stored in that
      // order, so the first 30 matches are all of the once-only kind): the tiers that repeat every
      // word hold 7, fewer than the page of 10, so the search goes down to all matches (more than
      // the 30 candidates), keeping the 7, and fills the page below them.
      const texts = [
        ...Array.from({ length: 200 }, (_, i) => `a lute and a gong on day ${i}`),
        ...Array.from({ length: 3 }, (_, i) => `${'lute gong '.repeat(8)}${i}`),
        ...Array.from({ length: 4 }, (_, i) => `lute gong played and lute gong again ${i}`),
      ];
      const ids = texts.map((_, i) => String(7_318_273_645_515_000_000n + BigInt(i)));
      try {
        await storeEnglishTexts(db, date, archive, ids, (_, i) => texts[i]!);
        await db.execute(sql`ANALYZE transcripts`);
        const ours = await searchTranscriptsRanked(db, 'lute gong', { date, candidates: 30, limit: 10 });
        assert.equal(ours.hits.length, 10, 'a full page');
        assert.deepEqual(
          ours.hits.slice(0, 7).map((h) => ids.indexOf(h.id)),
          [200, 201, 202, 203, 204, 205, 206],
          'the transcripts that repeat both words first, best first',
        );
        assert.ok(
          ours.hits.slice(7).every((h) => ids.indexOf(h.id) < 200),
          'then the others',
        );
        assert.ok(
          ours.hits.every((h) => h.snippet.includes('«')),
          'every hit has its snippet',
        );
        assert.equal(ours.exact, false, '207 matches, 30 candidates, no tier proves the rest');
        // The phrase: only the 7 repeating transcripts say "lute gong"; all of them, exact.
        const phrase = await searchTranscriptsRanked(db, '"lute gong"', { date, candidates: 30, limit: 10 });
        assert.deepEqual(
          phrase.hits.map((h) => ids.indexOf(h.id)),
          [200, 201, 202, 203, 204, 205, 206],
        );
        assert.equal(phrase.exact, true, 'every match ranked');
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('two common words: below a tier that holds less than a page, those that also repeat one word more', async () => {
      const [date, archive] = ['2024-05-07', '2024-05-07_00-00'];
      // 6 transcripts say both words three times (tier 6 of both: fewer than the page of 10), 300
      // say both twice, then 20 say one three times and the other twice. The page is the 6 and the
      // best 4 of the 20, which are stored after the 300: ranking the first 30 candidates that say
      // both twice (as before) missed them; those that also repeat one word are few and hold them.
      const texts = [
        ...Array.from({ length: 6 }, (_, i) => `harp drum harp drum harp drum ${i}`),
        ...Array.from({ length: 300 }, (_, i) => `harp drum and harp drum ${i}`),
        ...Array.from({ length: 20 }, (_, i) => `harp harp harp and drum drum ${i}`),
        ...Array.from({ length: 1000 }, (_, i) => `a violin played on evening ${i}`),
      ];
      const ids = texts.map((_, i) => String(7_318_273_645_517_000_000n + BigInt(i)));
      try {
        await storeEnglishTexts(db, date, archive, ids, (_, i) => texts[i]!);
        await db.execute(sql`ANALYZE transcripts`);
        const everyMatch = await searchTranscriptsRanked(db, 'harp drum', {
          date,
          candidates: 1000,
          limit: 10,
        });
        assert.equal(everyMatch.exact, true);
        const ours = await searchTranscriptsRanked(db, 'harp drum', { date, candidates: 30, limit: 10 });
        assert.deepEqual(
          ours.hits.map((h) => h.rank),
          everyMatch.hits.map((h) => h.rank),
          'the ranks of the exact top 10',
        );
        assert.ok(
          ours.hits.slice(6).every((h) => ids.indexOf(h.id) >= 306 && ids.indexOf(h.id) < 326),
          'after the 6, the transcripts that say one word three times',
        );
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('two words and a phrase: the transcripts that repeat either word prove the page exact', async () => {
      const [date, archive] = ['2024-05-04', '2024-05-04_00-00'];
      // 80 transcripts hold both words once (more than the 30 candidates), 12 repeat one of them:
      // those 12 are the best, and no transcript outside tier 2 can rank as high.
      const texts = [
        ...Array.from({ length: 80 }, (_, i) => `the harp and the drum played on day ${i}`),
        ...Array.from({ length: 12 }, (_, i) =>
          i % 2 ? `harp drum then harp again ${i}` : `harp drum and drum and drum ${i}`,
        ),
        ...Array.from({ length: 40 }, (_, i) => `only the harp harp harp here ${i}`),
        // Neither word: with statistics (ANALYZE below, or autovacuum's) the planner then expects
        // few transcripts in tier 2 that hold both, as on a real corpus, and tries the intersection.
        ...Array.from({ length: 1000 }, (_, i) => `a violin played on evening ${i}`),
      ];
      const ids = texts.map((_, i) => String(7_318_273_645_514_000_000n + BigInt(i)));
      try {
        await storeEnglishTexts(db, date, archive, ids, (_, i) => texts[i]!);
        await db.execute(sql`ANALYZE transcripts`);
        for (const query of ['harp drum', '"harp drum"']) {
          const everyMatch = await searchTranscriptsRanked(db, query, { date, candidates: 1000, limit: 10 });
          assert.equal(everyMatch.exact, true);
          const ours = await searchTranscriptsRanked(db, query, { date, candidates: 30, limit: 10 });
          assert.equal(ours.exact, true, `"${query}": 92 matches, 30 candidates, proven by tier 2`);
          assert.deepEqual(
            ours.hits.map((h) => h.rank),
            everyMatch.hits.map((h) => h.rank),
            `"${query}": the ranks of the exact top 10`,
          );
          assert.ok(
            ours.hits.every((h) => ids.indexOf(h.id) >= 80 && ids.indexOf(h.id) < 92),
            'the page is the transcripts that repeat a word and hold both',
          );
        }
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test("a phrase's matches are found by its word pairs, and all of them ranked: exact", async () => {
      const [date, archive] = ['2024-05-06', '2024-05-06_00-00'];
      // 20 transcripts say "lute gong" four times, 10 once, 300 say both words apart. Without the
      // pairs the search ranked the first tier that fills a page (the 20 that repeat both words)
      // and said exact: false; with them it finds the 30 matches in tsv_tiers' index and ranks all.
      const texts = [
        ...Array.from({ length: 20 }, (_, i) => `${'lute gong '.repeat(4)}${i}`),
        ...Array.from({ length: 10 }, (_, i) => `a lute gong played once on day ${i}`),
        ...Array.from({ length: 300 }, (_, i) => `the lute and then the gong on day ${i}`),
        // Matches that hold no pair in their stems: "the who" is all stop words in English (found
        // by the plain words only), and English's 'own' <-> 'car' for "owns car" matches the plain
        // words of "his own car" ('own' is an English stop word, not in the stems).
        'i saw the who live',
        'his own car',
      ];
      const ids = texts.map((_, i) => String(7_318_273_645_516_000_000n + BigInt(i)));
      try {
        await storeEnglishTexts(db, date, archive, ids, (_, i) => texts[i]!);
        await db.execute(sql`ANALYZE transcripts`);
        const { rows } = await db.execute<{ pairs: string; want: string; stored: boolean }>(sql`
          SELECT audio_pipeline_word_pairs(to_tsvector('english', 'My best friends, and the best dog barks'))::text AS pairs,
                 array_to_tsvector(ARRAY[audio_pipeline_pair_token('best friend'), audio_pipeline_pair_token('best dog'),
                                         audio_pipeline_pair_token('dog bark')])::text AS want,
                 (SELECT tsv_tiers @@ audio_pipeline_pair_token('lute gong')::tsquery
                  FROM transcripts WHERE id = ${ids[20]!}) AS stored`);
        // stop words break a pair (my, and, the); stems are paired as tsv holds them
        assert.equal(rows[0]!.pairs, rows[0]!.want);
        assert.match(rows[0]!.pairs, /^'~\d+' '~\d+' '~\d+'$/);
        assert.equal(rows[0]!.stored, true, 'a stored transcript carries its pairs');
        const everyMatch = await searchTranscriptsRanked(db, '"lute gong"', {
          date,
          candidates: 1000,
          limit: 10,
        });
        assert.equal(everyMatch.exact, true);
        const ours = await searchTranscriptsRanked(db, '"lute gong"', { date, candidates: 40, limit: 10 });
        assert.equal(ours.exact, true, '30 matches, 40 candidates: every match ranked');
        assert.deepEqual(
          ours.hits.map((h) => h.rank),
          everyMatch.hits.map((h) => h.rank),
          'the ranks of the exact top 10',
        );
        assert.ok(
          ours.hits.every((h) => ids.indexOf(h.id) < 20),
          'the transcripts that repeat the phrase',
        );
        // More matches than the candidates: the tiers narrowed by the pairs, as for two words.
        const few = await searchTranscriptsRanked(db, '"lute gong"', { date, candidates: 20, limit: 10 });
        assert.equal(few.hits.length, 10);
        assert.ok(
          few.hits.every((h) => ids.indexOf(h.id) < 20),
          'the best of the phrase, none of the others',
        );
        // Words apart are not the phrase; a phrase made of a stop word and a word has no pair to
        // look up ("the lute" is 'lute' in English) and is searched as before.
        const apart = await searchTranscriptsRanked(db, '"gong lute"', { date, candidates: 40, limit: 10 });
        assert.equal(apart.exact, true);
        assert.ok(
          apart.hits.every((h) => ids.indexOf(h.id) < 20),
          '"gong lute": only where the phrase repeats',
        );
        const withStopWord = await searchTranscriptsRanked(db, '"the gong"', { date, limit: 5 });
        assert.equal(withStopWord.hits.length, 5);
        for (const [query, i] of [
          ['"the who"', 330],
          ['"owns car"', 331],
        ] as const) {
          const found = await searchTranscriptsRanked(db, query, { date, candidates: 40, limit: 10 });
          assert.deepEqual(
            found.hits.map((h) => ids.indexOf(h.id)),
            [i],
            `${query}: a match without the pairs in its stems is still found`,
          );
        }
      } finally {
        await db.execute(sql`DELETE FROM audio_files WHERE date = ${date}`);
      }
    });

    test('tfRankBound is ts_rank of words at n positions', async () => {
      const positions = [1, 2, 3, 7, 8, 15, 63, 64];
      // x alone at n positions; x and y at n positions each (a two-word query: the mean of both).
      const { rows } = await db.execute<{ n: number; one: number; two: number }>(sql`
        SELECT n, ts_rank(v, 'x'::tsquery)::float8 AS one, ts_rank(v || w, 'x | y'::tsquery)::float8 AS two
        FROM unnest(${`{${positions.join(',')}}`}::int[]) AS n,
        LATERAL (SELECT array_to_string(ARRAY(SELECT 'x:' || i FROM generate_series(1, n) AS i), ' ')::tsvector AS v,
                        array_to_string(ARRAY(SELECT 'y:' || i FROM generate_series(1, n) AS i), ' ')::tsvector AS w) AS d
        ORDER BY n`);
      assert.equal(rows.length, positions.length);
      for (const { n, one, two } of rows) {
        assert.equal(Number(one), tfRankBound(n), `n = ${n}`);
        assert.ok(Math.abs(Number(two) - tfRankBound(n)) < 1e-7, `n = ${n}, two words: ${two}`);
        assert.ok(tfRankBound(n) > tfRankBound(n - 1), 'increasing');
      }
      assert.deepEqual(tsqueryLexemes(`'coffe' | 'coffee' & !'don''t' <-> 'coffe'`), [
        'coffe',
        'coffee',
        "don''t",
      ]);
      // The tiers: "dog" is in both halves of tsv (its stem is itself), so once is 2 positions and
      // no tier; "coffees" is 'coffe' in English and 'coffees' plain, so twice is tier 2.
      const tiers = async (text: string) =>
        (
          await db.execute<{ t: string }>(
            sql`SELECT audio_pipeline_tf_tiers(to_tsvector('english', ${text}), to_tsvector('simple', ${text}))::text AS t`,
          )
        ).rows[0]!.t;
      assert.equal(await tiers('a dog barks'), '');
      assert.equal(await tiers('dog dog'), "'dog#2' 'dog#3' 'dog#4'");
      // tier 6 (migration 0004): "said three times" for a word whose stem is itself
      assert.equal(await tiers('dog dog dog'), "'dog#2' 'dog#3' 'dog#4' 'dog#6'");
      assert.equal(await tiers('coffees and coffees'), "'coffe#2' 'coffees#2'");
      assert.equal(await tiers('coffees coffees coffees'), "'coffe#2' 'coffe#3' 'coffees#2' 'coffees#3'");
    });

    test("migration 0005's faster search tokens are migration 0004's tokens", async () => {
      // 0005 replaced the bodies of audio_pipeline_tf_tiers and audio_pipeline_search_tokens and
      // rewrote no stored value: that holds only if they compute what 0004's did. 0004's bodies,
      // as session-local functions, against the installed ones on texts in six configurations:
      // repeated words, stop words, stems that are and are not the word, past tsvector's
      // 256 positions per lexeme. Where the stems' last position plus the plain words' last
      // reaches 16,383 (~8,000 words, fewer hyphenated: tsv's second half clamps there) 0005
      // counts a word's positions in tsv, where 0004 added both halves' up: 0005 may then leave
      // out a tier, never one that tsv's positions reach (the search's bound).
      const words = [
        'dog',
        'dogs',
        'the',
        'best',
        'friend',
        'friends',
        'and',
        'coffee',
        'coffees',
        'run',
        'running',
        'Hund',
        'Hunde',
        'der',
        'chien',
        'les',
        'chiens',
        'perro',
        'los',
        'perros',
        'casa',
        'собака',
        'и',
      ];
      let seed = 20261203;
      const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
      const texts = [
        '',
        'the',
        'dog',
        'dog dog',
        'dog dog dog',
        'a dog barks',
        'coffees and coffees',
        'My best friends, and the best dog barks',
        'dog '.repeat(300),
        `${'dog '.repeat(9000)}cat cat`,
        `${'best friend '.repeat(5000)}end`,
        // 3 positions per hyphenated word: 12,015 positions, clamped in tsv's second half
        `${'well-known co-op '.repeat(2002)}dog dog`,
        ...Array.from({ length: 60 }, (_, i) =>
          Array.from(
            { length: 5 + ((i * 7) % 150) },
            () => words[next() % (words.length - (i % 3) * 5)],
          ).join(' '),
        ),
      ];
      const client = await pool.connect();
      try {
        await client.query(`
          CREATE FUNCTION pg_temp.tiers_0004(stemmed tsvector, plain tsvector) RETURNS tsvector LANGUAGE sql AS $$
            SELECT coalesce(array_to_tsvector(array_agg(coalesce(s.lexeme, p.lexeme) || '#' || t.tier)), ''::tsvector)
            FROM unnest(stemmed) AS s FULL JOIN unnest(plain) AS p ON s.lexeme = p.lexeme,
            LATERAL (SELECT coalesce(cardinality(s.positions), 0) + coalesce(cardinality(p.positions), 0) AS n,
                            s.lexeme IS NOT NULL AND p.lexeme IS NOT NULL AS in_both) AS c,
            unnest('{2,3,4,6,8,16,32,64}'::int[]) AS t(tier)
            WHERE c.n >= t.tier AND (t.tier > 2 OR c.n >= 3 OR NOT c.in_both) $$`);
        await client.query(`
          CREATE FUNCTION pg_temp.pairs_0004(stemmed tsvector) RETURNS tsvector LANGUAGE sql AS $$
            SELECT coalesce(array_to_tsvector(array_agg(DISTINCT audio_pipeline_pair_token(a.lexeme || ' ' || b.lexeme))), ''::tsvector)
            FROM (SELECT u.lexeme, unnest(u.positions) AS pos FROM unnest(stemmed) AS u) AS a
            JOIN (SELECT u.lexeme, unnest(u.positions) AS pos FROM unnest(stemmed) AS u) AS b ON b.pos = a.pos + 1 $$`);
        const { rows } = await client.query<{
          cfg: string;
          text: string;
          old: string;
          counts: Record<string, number>;
          unclamped: boolean;
          tiers: string;
          tokens: string;
        }>(
          `SELECT cfg, x AS text, (pg_temp.tiers_0004(s, p) || pg_temp.pairs_0004(s))::text AS old,
                  (SELECT json_object_agg(u.lexeme, cardinality(u.positions)) FROM unnest(s || p) AS u) AS counts,
                  coalesce((SELECT max(pos) FROM unnest(s) AS u, unnest(u.positions) AS pos), 0)
                    + coalesce((SELECT max(pos) FROM unnest(p) AS u, unnest(u.positions) AS pos), 0) < 16383 AS unclamped,
                  (audio_pipeline_tf_tiers(s, p) || audio_pipeline_word_pairs(s))::text AS tiers,
                  audio_pipeline_search_tokens(s, p)::text AS tokens
           FROM unnest($1::text[]) AS x,
                unnest('{english,german,french,spanish,russian,simple}'::regconfig[]) AS cfg,
                LATERAL (SELECT to_tsvector(cfg, x) AS s, to_tsvector('simple', x) AS p) AS v`,
          [texts],
        );
        assert.equal(rows.length, texts.length * 6);
        const tokens = (v: string) => v.split(' ').filter(Boolean);
        let clamped = 0;
        for (const r of rows) {
          const what = `${r.cfg}: "${r.text.slice(0, 60)}" (${r.text.length} characters)`;
          assert.equal(r.tokens, r.tiers, `search_tokens is tf_tiers || word_pairs, ${what}`);
          if (r.unclamped) {
            assert.equal(r.tokens, r.old, `search_tokens, ${what}`);
            continue;
          }
          const [now, before] = [tokens(r.tokens), tokens(r.old)];
          assert.ok(
            now.every((t) => before.includes(t)),
            `no token 0004 did not have, ${what}`,
          );
          for (const t of before.filter((b) => !now.includes(b))) {
            const [, lexeme, tier] = /^'(.*)#(\d+)'$/.exec(t) ?? [];
            assert.ok(
              lexeme && (r.counts[lexeme] ?? 0) < Number(tier),
              `${t} left out: tsv holds it less often, ${what}`,
            );
            clamped++;
          }
        }
        assert.ok(clamped > 0, 'the text past 16,383 positions is tested');
        assert.ok(
          rows.some((r) => !r.unclamped && r.text.includes('well-known') && r.tokens !== r.old),
          'hyphenated words clamp before 8,000 words',
        );
        assert.ok(
          rows.some((r) => r.old.includes('#64')) && rows.some((r) => r.old.includes("'~")),
          'tiers and pairs both tested',
        );
      } finally {
        client.release();
      }
    });

    test("the generated columns compute with search_path = '' (as pg_restore fills the table)", async () => {
      // The generated expressions name their functions by OID, but a function body is resolved
      // against the caller's search_path: one calling audio_pipeline_* without its schema fails
      // under pg_restore, and the COPY of every transcript with it.
      const text = 'my best friend and my best friend, twice';
      const { rows: want } = await pool.query<{ t: string }>(
        `SELECT audio_pipeline_search_tokens(to_tsvector('english', $1), to_tsvector('simple', $1))::text AS t`,
        [text],
      );
      const fresh = new pg.Client({ connectionString: server.url });
      await fresh.connect();
      try {
        await fresh.query(`SET search_path = ''`);
        await fresh.query(
          'CREATE TEMP TABLE restored (LIKE public.transcripts INCLUDING DEFAULTS INCLUDING GENERATED)',
        );
        await fresh.query(`INSERT INTO restored (id, model, language, text) VALUES ('1', 'base', 'en', $1)`, [
          text,
        ]);
        const { rows } = await fresh.query<{ t: string; tsv: string }>(
          'SELECT tsv_tiers::text AS t, tsv::text AS tsv FROM restored',
        );
        assert.equal(rows[0]!.t, want[0]!.t);
        assert.match(rows[0]!.t, /'best#2'.*'~\d+'/);
        assert.match(rows[0]!.tsv, /'friend'/);
      } finally {
        await fresh.end();
      }
    });

    test('the search statement reads the GIN index', async () => {
      const client = await pool.connect();
      try {
        await client.query('SET enable_seqscan = off');
        const statement = rankedSearchSql('violin', "'violin'", {
          limit: 20,
          offset: 0,
          candidates: 100,
          headlineOptions: '',
        });
        const query = new PgDialect().sqlToQuery(statement);
        const plan = await client.query(`EXPLAIN ${query.sql}`, query.params);
        assert.match(
          plan.rows.map((r) => r['QUERY PLAN']).join('\n'),
          /Bitmap Index Scan on transcripts_tsv_idx/,
        );
        // A tier's statement reads the tiers' index, and only it: its rows are checked one by one.
        const tier = new PgDialect().sqlToQuery(
          rankedSearchSql('violin', "'violin'", {
            limit: 20,
            offset: 0,
            candidates: 100,
            headlineOptions: '',
            tiers: { bounded: "'violin#8'" },
          }),
        );
        const tierPlan = (await client.query(`EXPLAIN ${tier.sql}`, tier.params)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
        assert.match(tierPlan, /Bitmap Index Scan on transcripts_tsv_tiers_idx/);
        assert.doesNotMatch(tierPlan, /transcripts_tsv_idx/);
      } finally {
        await client.query('RESET enable_seqscan');
        client.release();
      }
    });

    test('exportDate rows have exactly the documented keys', async () => {
      const rows = [];
      for await (const row of exportDate(db, DATE, { pageSize: 2 })) rows.push(row);
      assert.equal(rows.length, 5);
      for (const row of rows) {
        assert.deepEqual(Object.keys(row), [
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
        ]);
      }
      assert.deepEqual([...EXPORT_KEYS], Object.keys(rows[0]!));
      const en = rows.find((r) => r.id === '7318273645512907001')!;
      assert.deepEqual(en, {
        id: '7318273645512907001',
        date: DATE,
        archive: ARCHIVE,
        status: 'uploaded',
        error: null,
        language: 'en',
        language_prob: 0.9731,
        text: 'The dog runs across the park every single morning.',
        no_speech: false,
        duration_s: 12.5,
        opus_path: `/staging/${DATE}/${ARCHIVE}/opus/7318273645512907001.opus`,
        storage_uri: 'file:///storage/2024-01-15/7318273645512907001.opus',
      });
      const failed = rows.find((r) => r.id === '7318273645512907004')!;
      assert.equal(failed.status, 'failed');
      assert.equal(failed.text, null);
      assert.equal(failed.no_speech, null);
      assert.deepEqual(
        rows.map((r) => r.id),
        [...rows.map((r) => r.id)].sort(),
      );
      const nothing = [];
      for await (const row of exportDate(db, '1999-01-01')) nothing.push(row);
      assert.equal(nothing.length, 0);
    });

    test('queue: upserts, attempts, pending dates and the status --json shape', async () => {
      assert.equal(await dateStatus(db, '2024-02-01'), null);
      await upsertQueue(db, { date: '2024-02-03', archive: null, status: 'pending' });
      await upsertQueue(db, { date: '2024-02-01', archive: null, status: 'pending' });
      await upsertQueue(db, { date: '2024-02-02', archive: '', status: 'completed' });
      const running = await upsertQueue(db, {
        date: '2024-02-01',
        archive: null,
        status: 'running',
        workflowId: 'process-date-2024-02-01',
        runId: 'run-1',
        incrementAttempts: true,
      });
      assert.equal(running.attempts, 1);
      assert.ok(running.startedAt);
      await upsertQueue(db, {
        date: '2024-02-01',
        archive: '2024-02-01_00-00',
        status: 'running',
        filesTotal: 10,
        filesDone: 3,
      });
      await upsertQueue(db, {
        date: '2024-02-01',
        archive: '2024-02-01_00-00',
        status: 'completed_with_errors',
        filesDone: 9,
        filesFailed: 1,
        error: '1 clip failed',
      });
      await upsertQueue(db, {
        date: '2024-02-01',
        archive: '2024-02-01_00-10',
        status: 'failed',
        error: 'corrupt archive',
        incrementAttempts: true,
      });
      const failedDate = await upsertQueue(db, {
        date: '2024-02-01',
        archive: null,
        status: 'failed',
        error: 'archive 00-10 failed',
      });
      assert.equal(failedDate.attempts, 1);
      assert.equal(failedDate.workflowId, 'process-date-2024-02-01', 'kept when not given');
      assert.ok(failedDate.finishedAt);

      const status = await dateStatus(db, '2024-02-01');
      assert.deepEqual(status, {
        date: '2024-02-01',
        status: 'failed',
        archives: [
          {
            archive: '2024-02-01_00-00',
            status: 'completed_with_errors',
            error: '1 clip failed',
            files_total: 10,
            files_done: 9,
            files_failed: 1,
          },
          {
            archive: '2024-02-01_00-10',
            status: 'failed',
            error: 'corrupt archive',
            files_total: 0,
            files_done: 0,
            files_failed: 0,
          },
        ],
      });
      assert.deepEqual(JSON.parse(JSON.stringify(status)), status, 'plain JSON');

      const pending = await getPending(db, 10);
      assert.deepEqual(
        pending.map((p) => [p.date, p.status]),
        [
          ['2024-02-01', 'failed'],
          ['2024-02-03', 'pending'],
        ],
      );
      assert.deepEqual(
        (await getPending(db, 1)).map((p) => p.date),
        ['2024-02-01'],
      );
      assert.deepEqual(
        (await getPending(db, 10, { maxAttempts: 1 })).map((p) => p.date),
        ['2024-02-03'],
      );

      const retried = await upsertQueue(db, {
        date: '2024-02-01',
        archive: null,
        status: 'running',
        error: null,
        incrementAttempts: true,
      });
      assert.equal(retried.attempts, 2);
      assert.equal(retried.lastError, null);
      assert.equal(retried.finishedAt, null);

      // Archives recorded before the date row: the date's status is derived from them.
      await upsertQueue(db, { date: '2024-03-01', archive: '2024-03-01_00-00', status: 'completed' });
      await upsertQueue(db, { date: '2024-03-01', archive: '2024-03-01_00-10', status: 'running' });
      assert.equal((await dateStatus(db, '2024-03-01'))!.status, 'running');
    });
  });
}
