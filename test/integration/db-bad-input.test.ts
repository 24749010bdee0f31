/**
 * Hostile input at the database (issue 7, items 1, 11, 13), against a real PostgreSQL 15. One bad
 * metadata row never costs its archive: ids with a NUL byte (22P05) or 8,000 characters (54000),
 * captions with NUL bytes and lone surrogates — before the fix the archive's one transaction
 * failed, was retried, and every good clip of the archive was lost. Search refuses NUL bytes and
 * overlong queries with a clear error; URLs never show a password.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { redactUrl, type AppDatabase } from '../../db/client.ts';
import { inputErrorReason } from '../../db/input-error.ts';
import { migrate } from '../../db/migrate.ts';
import { MAX_QUERY_CHARS, searchTranscripts } from '../../db/queries/search-transcripts.ts';
import { storeArchive } from '../../db/queries/store-archive.ts';
import * as schema from '../../db/schema.ts';
import { joinClipsWithMetadata } from '../../lib/archive/clip-join.ts';
import { clipKey } from '../../lib/clip-id.ts';
import { BadInputError } from '../../lib/errors.ts';
import type { ClipRecord } from '../../lib/manifest.ts';
import { readMetadataReport } from '../../lib/metadata/read.ts';
import { writeContractParquet, type ParquetColumns } from '../../lib/sample-day/parquet.ts';
import { startPostgres15, type TestPostgres } from '../support/postgres.ts';

const DATE = '2024-03-04';
const ARCHIVE = '2024-03-04_05-10';
const COLUMNS: ParquetColumns = [
  ['id', 'string'],
  ['desc', 'string'],
  ['author_nickname', 'string'],
];

let server: TestPostgres;
let pool: pg.Pool;
let db: AppDatabase;
let tmp: string;

before(async () => {
  server = await startPostgres15();
  pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => {});
  db = drizzle({ client: pool, schema }) as AppDatabase;
  await migrate(db);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'store-bad-rows-'));
});
after(async () => {
  await pool?.end();
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function rowsOf(archive: string) {
  const r = await db.execute<{
    id: string;
    status: string;
    error: string | null;
    description: string | null;
  }>(sql`SELECT id, status, error, description FROM audio_files WHERE archive = ${archive} ORDER BY id`);
  return r.rows;
}

test('ids PostgreSQL cannot key and text it cannot hold fail alone; the archive stores', async () => {
  const nulId = '7301\u0000999';
  const longId = randomBytes(4000).toString('hex'); // random: PostgreSQL compresses repeats
  const parquet = path.join(tmp, 'metadata.parquet');
  await writeContractParquet(
    parquet,
    [
      { id: '1001', desc: 'good clip', author_nickname: 'a' },
      { id: nulId, desc: 'id with a NUL byte', author_nickname: 'b' },
      { id: longId, desc: 'id of 8000 characters', author_nickname: 'c' },
      {
        id: '1002',
        desc: 'caption with a NUL\u0000 byte and a lone \uD800 surrogate',
        author_nickname: 'd\uDC00',
      },
    ],
    COLUMNS,
  );
  const { rows } = await readMetadataReport(parquet);
  const audio = ['1001.mp3', '1002.mp3'].map((n) => `/staging/audio/${n}`);
  const clips = joinClipsWithMetadata(
    { date: DATE, archive: ARCHIVE },
    audio,
    rows,
    audio.map((p) => ({ path: p, bytes: 10 })),
  ).map((c): ClipRecord =>
    c.status === 'failed' ? c : { ...c, status: 'converted', opusPath: `/o/${c.id}.opus` },
  );

  const result = await storeArchive(db, {
    date: DATE,
    archive: ARCHIVE,
    clips,
    metadata: new Map(rows.map((m) => [m.id, m])),
    transcripts: [],
  });
  assert.equal(result.clips, 4);
  const stored = await rowsOf(ARCHIVE);
  assert.deepEqual(
    stored.map((r) => [r.id, r.status]),
    [
      ['1001', 'stored'],
      ['1002', 'stored'],
      [clipKey(nulId), 'failed'],
      [clipKey(longId), 'failed'],
    ].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
  );
  const byId = Object.fromEntries(stored.map((r) => [r.id, r]));
  assert.match(byId[clipKey(nulId)].error!, /^unsafe id "7301\\x00999"/);
  assert.match(byId[clipKey(longId)].error!, /^unsafe id "[0-9a-f]{60}… \(8000 characters\)"/);
  assert.equal(byId['1002'].description, 'caption with a NUL byte and a lone \uFFFD surrogate');
});

test('a row PostgreSQL refuses is stored failed with the reason (row by row); the others store', async () => {
  // Ids that bypass clipKey (a caller that did not use it): 54000 for the long one; for the NUL,
  // 22P05 (the rows travel as JSON, whose \u0000 no PostgreSQL text can hold).
  const archive = '2024-03-04_05-20';
  const base = (id: string): ClipRecord => ({
    id,
    date: DATE,
    archive,
    sourceName: `${id.slice(0, 10)}.mp3`,
    status: 'converted',
    error: null,
    mp3Path: null,
    mp3Bytes: 1,
    opusPath: null,
    opusBytes: 1,
    storageUri: null,
    durationS: 1,
    sha256: null,
    hasMetadata: false,
  });
  const long = `8${randomBytes(4000).toString('hex')}`;
  const result = await storeArchive(db, {
    date: DATE,
    archive,
    clips: [base('2001'), base(long), base('20\u000002'), base('2002')],
    metadata: new Map(),
    transcripts: [],
  });
  assert.deepEqual(
    result.rejected.map((r) => [r.id.slice(0, 4), r.stored, r.reason.slice(0, 23)]).sort(),
    [
      ['20\u00000', false, 'store: PostgreSQL 22P05'],
      [long.slice(0, 4), false, 'store: PostgreSQL 54000'],
    ].sort(),
  );
  assert.equal(result.failed, 2);
  assert.deepEqual(
    (await rowsOf(archive)).map((r) => [r.id, r.status]),
    [
      ['2001', 'stored'],
      ['2002', 'stored'],
    ],
  );
});

test('input errors are classes 22, 23 and 54 only', () => {
  assert.match(inputErrorReason({ code: '22021', message: 'invalid byte sequence' }) ?? '', /22021/);
  assert.ok(inputErrorReason({ message: 'wrapped', cause: { code: '54000', message: 'index row size' } }));
  assert.ok(inputErrorReason({ code: '23505', message: 'duplicate key' }));
  assert.equal(inputErrorReason({ code: '57P01', message: 'terminating connection' }), null);
  assert.equal(inputErrorReason({ code: '08006', message: 'connection failure' }), null);
  assert.equal(inputErrorReason(new Error('ECONNREFUSED')), null);
});

test('search: a NUL byte or an overlong query is BadInputError, not a raw PostgreSQL error', async () => {
  await assert.rejects(
    searchTranscripts(db, 'good\u0000words'),
    (err: unknown) => err instanceof BadInputError && err.message === 'search query: holds a NUL byte',
  );
  const started = Date.now();
  await assert.rejects(
    searchTranscripts(db, 'word '.repeat(40_000)),
    (err: unknown) =>
      err instanceof BadInputError && /200000 characters, more than the limit of 500/.test(err.message),
  );
  assert.ok(Date.now() - started < 100, 'refused before PostgreSQL parses it');
  assert.deepEqual(await searchTranscripts(db, 'x'.repeat(MAX_QUERY_CHARS)), []);
});

test('search CLI: an overlong query exits 2 with a clear message', async () => {
  const cli = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [cli, 'search', 'q'.repeat(MAX_QUERY_CHARS + 1)],
      { env: { PATH: process.env.PATH, DATABASE_URL: server.url, LOG_LEVEL: 'silent' } },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^error: search query: 501 characters, more than the limit of 500/);
});

test('a password in a database URL is masked, in the user part and in ?password=', () => {
  const shown = redactUrl('postgres://app:hunter2@db:5432/x?sslmode=require&password=hunter3&sslpassword=s3');
  assert.doesNotMatch(shown, /hunter2|hunter3|s3(&|$)/);
  assert.match(shown, /sslmode=require/);
});
