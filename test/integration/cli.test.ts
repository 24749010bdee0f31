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
import { fileURLToPath } from 'node:url';
import { freePort } from '../../local/embedded-postgres.ts';
import { generateDay, type Truth } from '../../lib/sample-day/generate.ts';
import { makeTempDir } from '../support/postgres.ts';

const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));
const DATE = '2024-04-02';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('audio-pipeline CLI', { timeout: 15 * 60_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let truth: Truth;
  let run: Result;

  const cli = (...args: string[]): Promise<Result> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  before(async () => {
    dataDir = await makeTempDir('audio-pipeline-cli-');
    const incoming = path.join(dataDir, 'incoming');
    truth = (
      await generateDay({
        date: DATE,
        archives: 2,
        clipsPerArchive: 3,
        outDir: incoming,
        seed: 5,
        defects: { truncatedArchive: true },
      })
    ).truth;
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      WHISPER_MODEL_CACHE: process.env.WHISPER_MODEL_CACHE,
      DATA_DIR: dataDir,
      SOURCE: `local:${incoming}`,
      TEMPORAL_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    };
    run = await cli('run', '--date', DATE);
    // Ports chosen free in advance can be taken before the dev server binds them (it picks its own
    // HTTP and metrics ports the same way): on that race only, once more with fresh ports.
    if (/address already in use/.test(run.stderr)) {
      env.TEMPORAL_PORT = String(await freePort());
      env.TEMPORAL_UI_PORT = String(await freePort());
      run = await cli('run', '--date', DATE);
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

  test('export writes one line per clip with the documented keys', async () => {
    const r = await cli('export', '--date', DATE);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const expected = Object.values(truth.clips).filter((c) => c.archive.endsWith('00-00'));
    assert.equal(rows.length, expected.length);
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
    const csv = await cli('export', '--date', DATE, '--format', 'csv');
    assert.equal(
      csv.stdout.trim().split('\n')[0],
      'id,date,archive,status,error,language,language_prob,text,no_speech,duration_s,opus_path,storage_uri',
    );
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
