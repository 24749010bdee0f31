/**
 * The discovery schedule, retries and reset against the real Temporal dev server, embedded
 * PostgreSQL and the tiny.en model, with one-clip archives so that each date takes seconds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Config } from '../../lib/config.ts';
import { ArchiveStaging } from '../../lib/staging.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { dateStatus } from '../../db/queries/queue.ts';
import {
  DISCOVERY_SCHEDULE_ID,
  archiveWorkflowId,
  dateWorkflowId,
  type DiscoverDatesResult,
} from '../../workflows/contract.ts';
import {
  backfillDates,
  createDiscoverySchedule,
  discoveryInput,
} from '../../temporal-client/discovery-schedule.ts';
import { retryDate } from '../../temporal-client/retry-date.ts';
import { startDate } from '../../temporal-client/start-date.ts';
import { resetDate } from '../../temporal-client/reset-date.ts';
import { makeTempDir } from '../support/postgres.ts';
import { startTestPipeline, type TestPipeline } from '../support/test-pipeline.ts';

const BACKOFF_S = 4;
const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));

/** Runs the CLI to its end (killed after a minute: a hang fails the test). */
function runCli(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

describe('the discovery schedule, retries and reset', { timeout: 10 * 60_000 }, () => {
  let pipeline: TestPipeline;
  let env: TestPipeline['env'];
  let pg: TestPipeline['pg'];
  let config: Config;
  let incoming: string;

  /** Archives of `date` in the source; `truncated`: the last one cut in half. */
  const addDay = async (date: string, archives: number, truncated = false, outDir = incoming) =>
    generateDay({
      date,
      archives,
      clipsPerArchive: 1,
      outDir,
      seed: 5,
      defects: { truncatedArchive: truncated },
    });
  /** The intact version of a truncated day's last archive, put in the source and in staging. */
  const repairLastArchive = async (date: string, archives: number) => {
    const intact = await addDay(date, archives, false, await makeTempDir('audio-pipeline-intact-'));
    const file = intact.archives.at(-1)!;
    const archive = path.basename(file, '.tar.xz');
    await copyFile(file, path.join(incoming, path.basename(file)));
    const staged = new ArchiveStaging(config.stagingDir, date, archive).archiveFile;
    await mkdir(path.dirname(staged), { recursive: true });
    await copyFile(file, staged);
    return archive;
  };
  const status = async (date: string) => (await dateStatus(pg.opened.db, date))?.status;
  const waitForDate = async (date: string, ...done: string[]) => {
    const deadline = Date.now() + 3 * 60_000;
    for (;;) {
      const s = await status(date);
      if (s && done.includes(s)) return s;
      if (Date.now() > deadline) throw new Error(`${date} still ${s} after 3 minutes`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  /** A one-archive date whose run waits at transcription (no worker polls its GPU queue). */
  const startStuckDate = async (date: string) => {
    await addDay(date, 1);
    const handle = await startDate(
      env.client,
      { date, gpuTaskQueue: 'test-schedule-nobody-polls' },
      config.temporal.taskQueue,
    );
    await waitForDate(date, 'running');
    return handle;
  };
  /** The date's own processing_queue row. */
  const dateRow = async (date: string) =>
    (await pg.opened.pool.query(`SELECT * FROM processing_queue WHERE date = $1 AND archive = ''`, [date]))
      .rows[0];
  const discover = (range: { from: string; to: string }, maxConcurrentDates = 2) =>
    backfillDates(env.client, {
      ...discoveryInput(config),
      ...range,
      maxConcurrentDates,
    }) as Promise<DiscoverDatesResult>;
  /** Runs of a workflow id (visibility is eventually consistent: wait for `atLeast`). */
  const runsOf = async (workflowId: string, atLeast = 1) => {
    for (let i = 0; ; i++) {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
        ids.push(w.runId);
      if (ids.length >= atLeast || i > 30) return ids;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  before(async () => {
    const dataDir = await makeTempDir('audio-pipeline-schedule-');
    incoming = path.join(dataDir, 'incoming');
    pipeline = await startTestPipeline({
      dataDir,
      incoming,
      settings: {
        WHISPER_MODEL: 'tiny.en',
        TASK_QUEUE: 'test-schedule-cpu',
        GPU_TASK_QUEUE: 'test-schedule-gpu',
        DATE_RETRY_BACKOFF_S: String(BACKOFF_S),
        DATE_MAX_ATTEMPTS: '3',
        ARCHIVE_CONCURRENCY: '1',
      },
    });
    ({ env, pg, config } = pipeline);
    await pipeline.cpuWorker(config.temporal.taskQueue);
    await pipeline.gpuWorker(config.temporal.gpuTaskQueue);
    pipeline.runWorkers();
  });

  after(() => pipeline?.close());

  test('a triggered schedule discovers new dates and processes them, MAX_CONCURRENT_DATES at a time', async () => {
    await addDay('2024-04-01', 1);
    await addDay('2024-04-02', 1);
    await createDiscoverySchedule(
      env.client,
      { ...discoveryInput(config, { from: '2024-04-01' }), maxConcurrentDates: 1 },
      '1h',
    );
    const schedule = env.client.schedule.getHandle(DISCOVERY_SCHEDULE_ID);
    try {
      await schedule.trigger();
      assert.equal(await waitForDate('2024-04-01', 'completed'), 'completed');
      // One date at a time: the second waits for a later tick.
      assert.equal(await status('2024-04-02'), 'pending');
      await schedule.trigger();
      assert.equal(await waitForDate('2024-04-02', 'completed'), 'completed');
      const clips = await pg.opened.pool.query(
        `SELECT count(*)::int AS n FROM audio_files WHERE status = 'uploaded'`,
      );
      assert.ok(clips.rows[0].n >= 2, `clips uploaded: ${clips.rows[0].n}`);
      assert.equal((await schedule.describe()).policies.overlap, 'SKIP');
    } finally {
      await schedule.delete();
    }
  });

  test('a date whose archives were still arriving is revisited for the new ones only', async () => {
    const date = '2024-04-03';
    const day = await addDay(date, 2);
    // Only the first archive had arrived when the date ran.
    const later = day.archives[1];
    const away = `${later}.later`;
    await rename(later, away);
    const first = await discover({ from: date, to: date });
    assert.deepEqual(first.added, [date]);
    await waitForDate(date, 'completed');
    await rename(away, later);
    const second = await discover({ from: date, to: date });
    assert.deepEqual(second.revisited, [date]);
    assert.deepEqual(second.started, [date]);
    await waitForDate(date, 'completed');
    const s = await dateStatus(pg.opened.db, date);
    assert.deepEqual(
      s!.archives.map((a) => a.status),
      ['completed', 'completed'],
    );
    const firstArchive = path.basename(day.archives[0], '.tar.xz');
    assert.equal((await runsOf(archiveWorkflowId(firstArchive))).length, 1, 'the first archive ran once');
  });

  test('a failed date is retried after its backoff, not before, and its failed archive succeeds', async () => {
    const date = '2024-04-04';
    await addDay(date, 1, true);
    await discover({ from: date, to: date });
    assert.equal(await waitForDate(date, 'failed', 'completed'), 'failed');
    const tooEarly = await discover({ from: date, to: date });
    assert.deepEqual(tooEarly.started, [], 'not retried before its backoff');
    await repairLastArchive(date, 1);
    await new Promise((r) => setTimeout(r, BACKOFF_S * 1000 + 500));
    const due = await discover({ from: date, to: date });
    assert.deepEqual(due.started, [date]);
    assert.equal(await waitForDate(date, 'completed', 'failed'), 'completed');
    const row = await dateRow(date);
    assert.equal(row.attempts, 2);
  });

  test('a person and the schedule starting the same date share one run', async () => {
    const date = '2024-04-05';
    // The person's run waits at transcription, so it is surely running when the schedule, which
    // read the date as pending, starts it too.
    const manual = await startStuckDate(date);
    await pg.opened.pool.query(
      `UPDATE processing_queue SET status = 'pending' WHERE date = $1 AND archive = ''`,
      [date],
    );
    const scheduled = await discover({ from: date, to: date });
    assert.deepEqual(scheduled.started, [date]);
    const row = await dateRow(date);
    assert.equal(row.run_id, manual.firstExecutionRunId, 'the schedule attached to the run');
    assert.equal(row.attempts, 1);
    assert.deepEqual(await runsOf(dateWorkflowId(date)), [manual.firstExecutionRunId], 'one run of the date');
    await manual.cancel();
    await assert.rejects(manual.result(), /cancel/i);
    assert.equal(await status(date), 'failed');
    // Closed, the date may run again (reuse policy ALLOW_DUPLICATE): a retry completes it.
    const retried = await retryDate(env.client, config, date);
    assert.notEqual(retried.runId, manual.firstExecutionRunId);
    await env.client.workflow.getHandle(retried.workflowId, retried.runId).result();
    assert.equal(await status(date), 'completed');
  });

  test('a terminated date, which cannot record its end, is marked failed by the next tick', async () => {
    const date = '2024-04-07';
    const handle = await startStuckDate(date);
    await handle.terminate('a person stopped it');
    const tick = await discover({ from: date, to: date });
    assert.deepEqual(tick.started, [], 'its backoff runs from now');
    const row = await dateRow(date);
    assert.equal(row.status, 'failed');
    assert.match(row.last_error, /terminated/);
  });

  test('reset --to last-failure re-runs the failed archive only', async () => {
    const date = '2024-04-06';
    await addDay(date, 2, true);
    await discover({ from: date, to: date });
    assert.equal(await waitForDate(date, 'completed_with_errors'), 'completed_with_errors');
    const broken = await repairLastArchive(date, 2);
    const reset = await resetDate(env.client, date, 'last-failure');
    const result = await env.client.workflow.getHandle(dateWorkflowId(date), reset.runId).result();
    assert.equal(result.status, 'completed');
    await waitForDate(date, 'completed');
    const s = await dateStatus(pg.opened.db, date);
    assert.deepEqual(
      s!.archives.map((a) => a.status),
      ['completed', 'completed'],
    );
    const good = s!.archives.find((a) => a.archive !== broken)!.archive;
    assert.equal((await runsOf(archiveWorkflowId(good))).length, 1, 'the completed archive is kept');
    assert.equal((await runsOf(archiveWorkflowId(broken), 2)).length, 2, 'the failed archive ran again');
  });

  test('the CLI: schedule create, describe, pause, delete; reset --to first; bad usage exits 2', async () => {
    const cliEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: config.dataDir,
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: env.address,
      TASK_QUEUE: config.temporal.taskQueue,
      GPU_TASK_QUEUE: config.temporal.gpuTaskQueue,
      SOURCE: `local:${incoming}`,
    };
    const cli = (...args: string[]) => runCli(cliEnv, args);
    assert.equal((await cli('schedule', 'create', '--every', '5x')).code, 2);
    assert.equal((await cli('reset', '--date', '2024-04-06', '--to', 'middle')).code, 2);
    assert.equal((await cli('retry', '--date', '2024-02-30')).code, 2);

    const created = await cli('schedule', 'create', '--every', '2h', '--from', '2024-05-01');
    assert.equal(created.code, 0, created.out);
    assert.equal((await cli('schedule', 'create')).code, 2, 'a second create is refused');
    assert.match((await cli('schedule', 'describe')).out, /active, every 7200s[\s\S]*"from":"2024-05-01"/);
    assert.equal((await cli('schedule', 'pause')).code, 0);
    assert.match((await cli('schedule', 'describe')).out, /paused/);
    assert.equal((await cli('schedule', 'delete')).code, 0);
    assert.notEqual((await cli('schedule', 'describe')).code, 0, 'gone');

    const date = '2024-04-06'; // completed by the reset test above
    const reset = await cli('reset', '--date', date, '--to', 'first');
    assert.equal(reset.code, 0, reset.out);
    const runId = /new run (\S+)/.exec(reset.out)![1];
    const row = await dateRow(date);
    assert.equal(row.run_id, runId, 'the queue names the new run');
    const result = await env.client.workflow.getHandle(dateWorkflowId(date), runId).result();
    assert.equal(result.status, 'completed');
    assert.equal(await status(date), 'completed');
  });
});
