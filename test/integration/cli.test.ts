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
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../local/embedded-postgres.ts';
import { archiveWorkflowId, dateWorkflowId } from '../../workflows/contract.ts';
import { generateDay, type Truth } from '../../lib/sample-day/generate.ts';
import { makeTempDir } from '../support/postgres.ts';

const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));
const DATE = '2024-04-02';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Everything local under dataDir, archives from `incoming`, the CI's model cache. */
function localEnv(dataDir: string, incoming: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    WHISPER_MODEL_CACHE: process.env.WHISPER_MODEL_CACHE,
    DATA_DIR: dataDir,
    SOURCE: `local:${incoming}`,
    LOG_LEVEL: 'warn',
  };
}

/** Runs the CLI to its end (killed after `timeoutMs`: a hang fails the test instead of stalling it). */
function runCli(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 10 * 60_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('audio-pipeline CLI', { timeout: 15 * 60_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let truth: Truth;
  let run: Result;

  const cli = (...args: string[]): Promise<Result> => runCli(env, args);

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
      ...localEnv(dataDir, incoming),
      TEMPORAL_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
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

test('a SOURCE, --source or STORAGE_TARGET this version cannot serve stops start-up with exit 2', async () => {
  const base = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: '/nonexistent/never-created' };
  const cases: [NodeJS.ProcessEnv, string[], RegExp][] = [
    [{ ...base, SOURCE: 'globus:abc-123:/data' }, [], /SOURCE="globus:abc-123:\/data": Globus/],
    [
      { ...base, STORAGE_TARGET: 'archiver@nas:/opus' },
      [],
      /STORAGE_TARGET="archiver@nas:\/opus": uploading over rsync/,
    ],
    [base, ['--source', 'globus:abc-123:/data'], /--source "globus:abc-123:\/data": Globus/],
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
    env = { ...localEnv(dataDir, incoming), ...QUEUES };
    // On a port race with the dev server (see above), once more with fresh ports.
    for (let attempt = 0; attempt < 2; attempt++) {
      env.TEMPORAL_PORT = String(await freePort());
      env.TEMPORAL_UI_PORT = String(await freePort());
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
