/**
 * The `audio-pipeline` command as a person runs it: with no TEMPORAL_ADDRESS and no
 * DATABASE_URL, `run` brings up the Temporal dev server, an embedded PostgreSQL and its own
 * workers, and the other commands read what it stored.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { openDatabase } from '../../db/client.ts';
import { Client, Connection } from '@temporalio/client';
import { freePorts } from '../support/ports.ts';
import { storeArchive } from '../../db/queries/store-archive.ts';
import { upsertQueue } from '../../db/queries/queue.ts';
import type { ArchiveRecord, ClipRecord } from '../../lib/manifest.ts';
import { wordErrorRate } from '../../lib/whisper/wer.ts';
import { archiveWorkflowId, dateWorkflowId } from '../../workflows/contract.ts';
import { generateDay, type Truth } from '../../lib/sample-day/generate.ts';
import { CLI, localEnv, runCli, type CliResult as Result } from '../support/cli.ts';
import { makeTempDir } from '../support/postgres.ts';

/** Two archives, the second a truncated .tar.xz: `run` exits 3. */
const DATE = '2024-04-02';
/** One archive of English and German speech, nothing wrong: `run` exits 0. */
const CLEAN_DATE = '2024-04-03';
/** Its only archive is truncated, so no archive could be read: `run` exits 1. */
const BROKEN_DATE = '2024-04-04';
/** A date in flight: its queue rows as the workflows write them while it runs. */
const RUNNING_DATE = '2024-04-05';
/** Stored transcripts with commas, quotes, line breaks and emoji, for the CSV export. */
const CSV_DATE = '2024-04-06';
const EXPORT_HEADER =
  'id,date,archive,status,error,language,language_prob,text,no_speech,duration_s,opus_path,storage_uri';

/**
 * Shared setup (`before`), which every test reads and none changes: the three dates above run
 * through `audio-pipeline run` in one DATA_DIR, then the running date's queue rows and the CSV
 * date's clips are written into the same database.
 */
describe('audio-pipeline CLI', { timeout: 15 * 60_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let truth: Truth;
  let run: Result;
  let clean: Result;
  let broken: Result;

  const cli = (...args: string[]): Promise<Result> => runCli(env, args);

  /**
   * `run` with the dev server on ports found free just before. Another process can take one of
   * them before the server binds it (the server picks its HTTP and metrics ports the same way):
   * on that race only, again with fresh ports, until it binds.
   */
  const runDate = async (date: string): Promise<Result> => {
    for (let attempt = 1; ; attempt++) {
      const [temporalPort, uiPort] = await freePorts(2);
      env.TEMPORAL_PORT = String(temporalPort);
      env.TEMPORAL_UI_PORT = String(uiPort);
      const result = await cli('run', '--date', date);
      if (!/address already in use/.test(result.stderr) || attempt === 5) return result;
    }
  };

  before(async () => {
    dataDir = await makeTempDir('audio-pipeline-cli-');
    const incoming = path.join(dataDir, 'incoming');
    const day = (date: string, archives: number, clipsPerArchive: number, truncatedArchive: boolean) =>
      generateDay({
        date,
        archives,
        clipsPerArchive,
        outDir: incoming,
        seed: 5,
        defects: { truncatedArchive },
      });
    const [main, cleanDay] = await Promise.all([
      day(DATE, 2, 3, true),
      day(CLEAN_DATE, 1, 2, false),
      day(BROKEN_DATE, 1, 1, true),
    ]);
    truth = {
      clips: { ...main.truth.clips, ...cleanDay.truth.clips },
      archives: { ...main.truth.archives, ...cleanDay.truth.archives },
    };
    env = localEnv(dataDir, incoming);
    run = await runDate(DATE);
    clean = await runDate(CLEAN_DATE);
    broken = await runDate(BROKEN_DATE);

    const opened = await openDatabase({ dataDir, databaseUrl: undefined });
    try {
      const running = { date: RUNNING_DATE, workflowId: `process-date-${RUNNING_DATE}` };
      await upsertQueue(opened.db, { ...running, archive: null, status: 'running', incrementAttempts: true });
      await upsertQueue(opened.db, {
        ...running,
        archive: `${RUNNING_DATE}_00-00`,
        status: 'completed',
        filesTotal: 3,
        filesDone: 3,
      });
      await upsertQueue(opened.db, {
        ...running,
        archive: `${RUNNING_DATE}_00-10`,
        status: 'running',
        filesTotal: 4,
      });
      await storeArchive(opened.db, csvArchive());
    } finally {
      await opened.close();
    }
  });

  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('run exits 3 when an archive failed, and prints a summary with counts per status', () => {
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, new RegExp(`date ${DATE}: completed_with_errors`));
    assert.match(run.stdout, new RegExp(`${DATE}_00-10 +failed .*truncated`));
    assert.match(run.stdout, /clips by status: .*uploaded 3/);
  });

  test('run exits 0 when every clip succeeded', () => {
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, new RegExp(`^date ${CLEAN_DATE}: completed$`, 'm'));
    assert.match(clean.stdout, /clips by status: .*uploaded 2/);
    assert.doesNotMatch(clean.stdout, /failed [1-9]/);
  });

  test('run exits 1 when no archive of the date could be read', () => {
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(broken.stdout, new RegExp(`date ${BROKEN_DATE}: failed`));
    assert.match(broken.stdout, new RegExp(`${BROKEN_DATE}_00-00 +failed .*truncated`));
  });

  test('status without --date lists every date, newest first', async () => {
    const json = await cli('status', '--json');
    assert.equal(json.code, 0, json.stderr);
    const dates = JSON.parse(json.stdout) as { date: string; status: string; files_done: number }[];
    assert.deepEqual(
      dates.map((d) => [d.date, d.status]),
      [
        [RUNNING_DATE, 'running'],
        [BROKEN_DATE, 'failed'],
        [CLEAN_DATE, 'completed'],
        [DATE, 'completed_with_errors'],
      ],
    );
    assert.equal(dates.find((d) => d.date === CLEAN_DATE)!.files_done, 2);
    const text = await cli('status');
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(/\s+/).slice(0, 2)),
      dates.map((d) => [d.date, d.status]),
    );
    assert.match(lines[2]!, /2\/2 clips ok, 0 failed/);
  });

  test('status --json of a running date: its archives in flight, with their counts', async () => {
    const r = await cli('status', '--date', RUNNING_DATE, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      date: RUNNING_DATE,
      status: 'running',
      archives: [
        {
          archive: `${RUNNING_DATE}_00-00`,
          status: 'completed',
          error: null,
          files_total: 3,
          files_done: 3,
          files_failed: 0,
        },
        {
          archive: `${RUNNING_DATE}_00-10`,
          status: 'running',
          error: null,
          files_total: 4,
          files_done: 0,
          files_failed: 0,
        },
      ],
    });
    const text = await cli('status', '--date', RUNNING_DATE);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${RUNNING_DATE}: running\n`));
    assert.match(text.stdout, new RegExp(`${RUNNING_DATE}_00-10 +running +0/4 ok, 0 failed`));
  });

  test('status --json has the documented shape', async () => {
    const r = await cli('status', '--date', DATE, '--json');
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(status), ['date', 'status', 'archives']);
    assert.equal(status.status, 'completed_with_errors');
    assert.deepEqual(Object.keys(status.archives[0]), [
      'archive',
      'status',
      'error',
      'files_total',
      'files_done',
      'files_failed',
    ]);
    assert.deepEqual(
      status.archives.map((a: { archive: string; status: string }) => [a.archive, a.status]),
      [
        [`${DATE}_00-00`, 'completed'],
        [`${DATE}_00-10`, 'failed'],
      ],
    );
  });

  test('export writes one line per clip with the documented keys and what the run stored', async () => {
    const r = await cli('export', '--date', CLEAN_DATE);
    assert.equal(r.code, 0, r.stderr);
    const rows = jsonLines(r.stdout);
    const expected = Object.values(truth.clips).filter((c) => c.date === CLEAN_DATE);
    assert.deepEqual(rows.map((row) => row.id).sort(), expected.map((c) => c.id).sort());
    for (const row of rows) {
      assert.deepEqual(Object.keys(row), EXPORT_HEADER.split(','));
      const clip = expected.find((c) => c.id === row.id)!;
      assert.equal(row.date, CLEAN_DATE);
      assert.equal(row.archive, clip.archive);
      assert.equal(row.status, 'uploaded');
      assert.equal(row.language, clip.language, `${clip.id}: "${row.text}"`);
      const wer = wordErrorRate(clip.sentence!, row.text as string);
      assert.ok(
        wer <= 0.5,
        `${clip.id} (${clip.language}): WER ${wer.toFixed(2)} for "${row.text}" vs "${clip.sentence}"`,
      );
      assert.match(row.storage_uri as string, new RegExp(`^file://.*/2024/04/03/${clip.id}\\.opus$`));
    }
  });

  test('export --format csv: header, one row per clip, RFC 4180 quoting of commas, quotes, line breaks', async () => {
    for (const date of [CSV_DATE, DATE]) {
      const csv = await cli('export', '--date', date, '--format', 'csv');
      assert.equal(csv.code, 0, csv.stderr);
      const jsonl = await cli('export', '--date', date);
      const expected = jsonLines(jsonl.stdout);
      const [header, ...rows] = parseCsv(csv.stdout);
      assert.equal(header!.join(','), EXPORT_HEADER);
      assert.equal(rows.length, expected.length, date);
      // Every field is the JSON value as text: null empty, numbers and booleans as JSON writes them.
      rows.forEach((row, i) =>
        assert.deepEqual(
          row,
          header!.map((k) => (expected[i]![k] === null ? '' : String(expected[i]![k]))),
          `${date} row ${i + 1}`,
        ),
      );
    }
    const csv = await cli('export', '--date', CSV_DATE, '--format', 'csv');
    const texts = Object.fromEntries(
      parseCsv(csv.stdout)
        .slice(1)
        .map((r) => [r[0], r[7]]),
    );
    assert.deepEqual(texts, Object.fromEntries([...CSV_TEXTS, ['7400000000000000006', '']]));
    // the raw bytes: quoted fields, doubled quotes, a line break inside a field
    assert.ok(csv.stdout.includes('"He said ""hello, world"" and left."'), csv.stdout);
    assert.ok(csv.stdout.includes('"first line\nsecond line"'), csv.stdout);
    assert.ok(csv.stdout.includes(',Emoji 🎉👩‍👩‍👧 and ünïcödé,'), csv.stdout);
    assert.match(csv.stdout, /,"convert: ffmpeg failed, exit 1",/);
  });

  test('search finds a spoken word', async () => {
    const speech = Object.values(truth.clips).find(
      (c) => c.kind === 'speech' && c.archive.endsWith('00-00'),
    )!;
    const word = speech.sentence!.split(/\W+/).sort((a, b) => b.length - a.length)[0];
    const r = await cli('search', word, '--json');
    assert.equal(r.code, 0, r.stderr);
    const hits = r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    assert.ok(
      hits.some((h: { id: string }) => h.id === speech.id),
      `"${word}" → ${r.stdout}`,
    );
  });

  test('bad input is a clear error with a usage exit code', async () => {
    for (const date of ['2024-13-45x', '2024-02-30']) {
      const badDate = await cli('run', '--date', date);
      assert.equal(badDate.code, 2, date);
      assert.match(badDate.stderr, /--date must be a calendar date YYYY-MM-DD/);
    }
    const badEnv = await new Promise<Result>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'status'], { env: { ...env, WHISPER_BATCH_SIZE: 'lots' } });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stdout: '', stderr }));
    });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /WHISPER_BATCH_SIZE="lots": expected/);
  });
});

test('a SOURCE, --source or STORAGE_TARGET this version cannot serve stops start-up with exit 2', async () => {
  const base = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: '/nonexistent/never-created' };
  const globus = 'globus:11111111-2222-4333-8444-555555555555:/data';
  const cases: [NodeJS.ProcessEnv, string[], RegExp][] = [
    [
      { ...base, SOURCE: 'globus:abc-123:/data' },
      [],
      /SOURCE="globus:abc-123:\/data": the Globus endpoint .* UUID/,
    ],
    [{ ...base, SOURCE: globus }, [], /SOURCE=globus:…: needs GLOBUS_CLIENT_ID/],
    [
      { ...base, STORAGE_TARGET: 'archiver@nas:/opus/../etc' },
      [],
      /STORAGE_TARGET=".*": the remote path may not contain '\.\.'/,
    ],
    [base, ['--source', 'globus:abc-123:/data'], /--source "globus:abc-123:\/data": the Globus endpoint/],
    [base, ['--source', globus], /--source ".*": needs GLOBUS_CLIENT_ID .*; needs GLOBUS_DEST_ENDPOINT/],
  ];
  for (const [env, extra, message] of cases) {
    const r = await runCli(env, ['run', '--date', '2024-01-15', ...extra], 60_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});

describe('custom task queues end to end', { timeout: 15 * 60_000 }, () => {
  const DAY = '2024-04-03';
  const QUEUES = { TASK_QUEUE: 'e2e-tenant', GPU_TASK_QUEUE: 'e2e-tenant-gpu' };
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let dev: ReturnType<typeof spawn> | undefined;
  let devLog = '';
  let database: Awaited<ReturnType<typeof openDatabase>> | undefined;

  /** `dev` with the custom queues, until it says it is ready (or exits). */
  const startDev = () =>
    new Promise<boolean>((resolve, reject) => {
      devLog = '';
      dev = spawn(process.execPath, [CLI, 'dev'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      dev.stderr!.on('data', (d) => {
        devLog += d;
        if (devLog.includes('Ctrl-C stops everything')) resolve(true);
      });
      dev.on('error', reject);
      dev.on('close', () => resolve(false));
    });

  before(async () => {
    dataDir = await makeTempDir('audio-pipeline-queues-');
    const incoming = path.join(dataDir, 'incoming');
    await generateDay({ date: DAY, archives: 1, clipsPerArchive: 2, outDir: incoming, seed: 7 });
    // `run` with TEMPORAL_ADDRESS reads the database named by DATABASE_URL (it would not open an
    // embedded one): dev and run share a server this test starts.
    database = await openDatabase({ dataDir: path.join(dataDir, 'shared-db') });
    env = { ...localEnv(dataDir, incoming), ...QUEUES, DATABASE_URL: database.url };
    // On a port race with the dev server (see above), once more with fresh ports.
    for (let attempt = 0; attempt < 2; attempt++) {
      const [temporalPort, uiPort] = await freePorts(2);
      env.TEMPORAL_PORT = String(temporalPort);
      env.TEMPORAL_UI_PORT = String(uiPort);
      if (await startDev()) return;
      if (!/address already in use/.test(devLog)) break;
    }
    assert.fail(`dev did not start:\n${devLog}`);
  });

  after(async () => {
    if (dev && dev.exitCode === null) {
      const closed = new Promise((resolve) => dev!.once('close', resolve));
      dev.kill('SIGTERM');
      await closed;
    }
    await database?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('dev polls TASK_QUEUE and GPU_TASK_QUEUE, run starts the date there, the archive transcribes on the GPU queue', async () => {
    assert.match(devLog, /Workers: e2e-tenant, e2e-tenant-gpu/);
    const address = `127.0.0.1:${env.TEMPORAL_PORT}`;
    // With TEMPORAL_ADDRESS set, `run` starts no workers of its own: only dev's can do the work.
    const run = await runCli({ ...env, TEMPORAL_ADDRESS: address }, ['run', '--date', DAY], 5 * 60_000);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`date ${DAY}: completed`));

    const connection = await Connection.connect({ address });
    try {
      const client = new Client({ connection });
      const date = await client.workflow.getHandle(dateWorkflowId(DAY)).describe();
      assert.equal(date.taskQueue, QUEUES.TASK_QUEUE);
      const history = await client.workflow.getHandle(archiveWorkflowId(`${DAY}_00-00`)).fetchHistory();
      const scheduled = (history.events ?? [])
        .map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === 'transcribeClips');
      assert.deepEqual(
        scheduled.map((a) => a?.taskQueue?.name),
        [QUEUES.GPU_TASK_QUEUE],
      );
    } finally {
      await connection.close();
    }
  });
});

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** RFC 4180: fields separated by commas, quoted when they hold commas, quotes or line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted && c === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === ',') {
      endField();
    } else if (!quoted && c === '\n') {
      endField();
      rows.push(row);
      row = [];
    } else {
      field += c;
    }
  }
  assert.equal(quoted, false, 'no unterminated quoted field');
  if (field || row.length) {
    endField();
    rows.push(row);
  }
  return rows;
}

const CSV_TEXTS: [string, string][] = [
  ['7400000000000000001', 'plain words only'],
  ['7400000000000000002', 'one, two, three'],
  ['7400000000000000003', 'He said "hello, world" and left.'],
  ['7400000000000000004', 'first line\nsecond line'],
  ['7400000000000000005', 'Emoji 🎉👩‍👩‍👧 and ünïcödé'],
];

/** Stored clips of CSV_DATE whose texts and error need quoting in CSV. */
function csvArchive(): ArchiveRecord {
  const archive = `${CSV_DATE}_00-00`;
  const clip = (id: string, failed = false): ClipRecord => ({
    id,
    date: CSV_DATE,
    archive,
    sourceName: `${id}.mp3`,
    status: failed ? 'failed' : 'converted',
    error: failed ? 'convert: ffmpeg failed, exit 1' : null,
    mp3Path: `/staging/${archive}/${id}.mp3`,
    mp3Bytes: 1000,
    opusPath: failed ? null : `/staging/${archive}/opus/${id}.opus`,
    opusBytes: failed ? null : 500,
    storageUri: null,
    durationS: failed ? null : 3.5,
    sha256: failed ? null : 'ab'.repeat(32),
    hasMetadata: false,
  });
  return {
    date: CSV_DATE,
    archive,
    clips: [...CSV_TEXTS.map(([id]) => clip(id)), clip('7400000000000000006', true)],
    metadata: new Map(),
    transcripts: CSV_TEXTS.map(([id, text]) => ({
      id,
      model: 'base',
      language: 'en',
      language_prob: 0.5,
      text,
      no_speech: false,
      duration_s: 3.5,
      segments: [{ start: 0, end: 3.5, text }],
      timings: {},
    })),
  };
}
