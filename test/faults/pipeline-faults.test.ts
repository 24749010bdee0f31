/**
 * Fault injection against the real pipeline (docs/reliability.md, "Faults"): the workers are
 * separate `audio-pipeline worker` processes, the Temporal dev server keeps its history in SQLite,
 * PostgreSQL 15 is a cluster of this test's own. Each test runs one generated date (one archive,
 * tiny.en) and injects one fault at a moment it observes — a partial transcript on disk, an Opus
 * file written, the store transaction waiting in PostgreSQL — never after a guessed sleep. After
 * each: the date completes, every clip has exactly one row (uploaded), one transcript, and a
 * stored Opus file whose sha256 is the row's; no ffmpeg outlives a killed worker.
 *
 * Workflows get `heartbeatTimeout: '10s'` (workflows/contract.ts) so that a killed worker's
 * activity is retried within seconds instead of the production 2 minutes.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { WorkflowHandle } from '@temporalio/client';
import { sha256File } from '../../lib/file-hash.ts';
import { generateDay, type Truth } from '../../lib/sample-day/generate.ts';
import { archiveWorkflowId, dateWorkflowId, type DateSummary } from '../../workflows/contract.ts';
import { childPids, isRunning, waitFor } from './support/processes.ts';
import { FaultStack, GPU_QUEUE } from './support/stack.ts';

const run = promisify(execFile);
/** Clips per date: enough for the fault's moment (a batch of 4 and more, an Opus file and more). */
const CLIPS = { gpuMidBatch: 5, midConvert: 4, other: 3 };

interface DateRun {
  date: string;
  clips: number;
  archive: string;
  /** The archive's staging folder. */
  staging: string;
  truth: Truth;
  handle: () => WorkflowHandle;
}

describe(
  'faults: the pipeline survives killed workers, restarted servers and a full disk',
  { timeout: 10 * 60_000 },
  () => {
    let stack: FaultStack;
    let seed = 100;

    before(async () => {
      stack = await FaultStack.start();
      await Promise.all([stack.startWorker('cpu'), stack.startWorker('gpu')]);
    });
    after(async () => {
      await stack?.close();
    });

    /**
     * Generates a date of one archive and starts it; `fault` runs while it does. Reports how long
     * the date took to complete once the fault was injected and cleared.
     */
    async function runDate(
      t: TestContext,
      date: string,
      clips: number,
      fault: (run: DateRun) => Promise<void>,
    ): Promise<DateSummary> {
      const day = await generateDay({
        date,
        archives: 1,
        clipsPerArchive: clips,
        outDir: stack.incoming,
        seed: seed++,
      });
      const archive = path.basename(day.archives[0]!, '.tar.xz');
      const workflowId = dateWorkflowId(date);
      await stack.client.workflow.start('processDate', {
        taskQueue: stack.taskQueue,
        workflowId,
        args: [{ date, gpuTaskQueue: GPU_QUEUE, archiveConcurrency: 1, heartbeatTimeout: '10s' }],
      });
      const dateRun: DateRun = {
        date,
        clips,
        archive,
        staging: path.join(stack.stagingDir, date, archive),
        truth: day.truth,
        handle: () => stack.client.workflow.getHandle(workflowId),
      };
      const started = Date.now();
      await fault(dateRun);
      const cleared = Date.now();
      const summary = (await dateRun.handle().result()) as DateSummary;
      await assertAccountedFor(dateRun, summary);
      t.diagnostic(
        `${clips} clips, 0 lost, 0 duplicated; fault injected ${((cleared - started) / 1000).toFixed(1)} s ` +
          `after the start, date completed ${((Date.now() - cleared) / 1000).toFixed(1)} s after it cleared`,
      );
      return summary;
    }

    /** Every clip once, with a status; an Opus file for every stored clip; one transcript each. */
    async function assertAccountedFor(
      { date, clips, truth, staging }: DateRun,
      summary: DateSummary,
    ): Promise<void> {
      const ids = Object.values(truth.clips)
        .filter((c) => c.date === date)
        .map((c) => c.id)
        .sort();
      assert.equal(ids.length, clips);
      assert.deepEqual(
        { status: summary.status, total: summary.filesTotal, failed: summary.filesFailed },
        { status: 'completed', total: clips, failed: 0 },
      );
      const client = new pg.Client({ connectionString: stack.databaseUrl });
      await client.connect();
      try {
        const rows = (
          await client.query<{ id: string; status: string; sha256: string; storage_uri: string }>(
            'SELECT id, status, sha256, storage_uri FROM audio_files WHERE date = $1 ORDER BY id',
            [date],
          )
        ).rows;
        assert.deepEqual(
          rows.map((r) => r.id),
          ids,
          'every clip has exactly one row',
        );
        assert.deepEqual(new Set(rows.map((r) => r.status)), new Set(['uploaded']));
        for (const row of rows) {
          const file = new URL(row.storage_uri).pathname;
          assert.equal(await sha256File(file), row.sha256, `${row.id}: the stored Opus file is the row's`);
        }
        const transcripts = (
          await client.query<{ n: number; ids: number }>(
            'SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM transcripts WHERE id = ANY($1)',
            [ids],
          )
        ).rows[0]!;
        assert.deepEqual(transcripts, { n: clips, ids: clips }, 'one transcript per clip');
      } finally {
        await client.end();
      }
      assert.equal(existsSync(staging), false, 'staging cleaned up after upload');
    }

    async function killAndRestart(queue: 'cpu' | 'gpu'): Promise<void> {
      const worker = stack.workers[queue]!;
      const children = await childPids(worker.pid);
      await worker.kill();
      await stack.startWorker(queue);
      // Its ffmpeg processes (and the GPU worker's decoding helper) end with it.
      await waitFor(
        'no child of the killed worker left',
        () => children.every((p) => !isRunning(p)) || undefined,
        5000,
      );
    }

    const lines = async (file: string) =>
      (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    const opusFiles = async (staging: string) =>
      (await readdir(path.join(staging, 'opus')).catch(() => [] as string[])).filter((n) =>
        n.endsWith('.opus'),
      );

    /** Holds an exclusive lock on audio_files until released, so that the store stage waits in PostgreSQL. */
    async function holdStore(): Promise<{ waiting: () => Promise<void>; release: () => Promise<void> }> {
      const locker = new pg.Client({ connectionString: stack.databaseUrl });
      locker.on('error', () => {}); // a PostgreSQL restart cuts it
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE audio_files IN EXCLUSIVE MODE');
      return {
        waiting: async () => {
          await waitFor('the store transaction waiting in PostgreSQL', async () => {
            // Only the store stage writes audio_files: any session waiting for a lock is it. (The
            // view is a snapshot per transaction, and this session is in one: it is refreshed first.)
            await locker.query('SELECT pg_stat_clear_snapshot()');
            const { rows } = await locker.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND datname = current_database()`,
            );
            return rows[0]!.n > 0 || undefined;
          });
        },
        release: async () => {
          await locker.query('ROLLBACK').catch(() => {});
          await locker.end().catch(() => {});
        },
      };
    }

    test('SIGKILL of the GPU worker mid-batch', async (t) => {
      await runDate(t, '2024-09-01', CLIPS.gpuMidBatch, async ({ staging }) => {
        // One batch appended to the attempt's partial file, the rest still to do.
        await waitFor('a partial transcript on disk', async () => {
          const partials = (await readdir(staging).catch(() => [] as string[])).filter((n) =>
            n.includes('.partial'),
          );
          for (const p of partials) if ((await lines(path.join(staging, p))) > 0) return true;
          return undefined;
        });
        assert.equal(
          existsSync(path.join(staging, 'transcripts.jsonl')),
          false,
          'transcription not finished',
        );
        await killAndRestart('gpu');
      });
      // The new worker resumed from the killed one's partial file: the first batch (4 clips) was
      // not transcribed again.
      const log = await readFile(stack.workers.gpu!.logFile, 'utf8');
      const done = log
        .split('\n')
        .filter((l) => l.includes('"transcribe done"'))
        .map((l) => JSON.parse(l) as { resumed: number });
      assert.equal(done.length, 1);
      assert.ok(done[0]!.resumed >= 4, `resumed ${done[0]!.resumed} clips`);
    });

    test('SIGKILL of the CPU worker mid-convert', async (t) => {
      await runDate(t, '2024-09-02', CLIPS.midConvert, async ({ staging }) => {
        const done = await waitFor('an Opus file converted', async () => {
          const n = (await opusFiles(staging)).length;
          return n > 0 ? n : undefined;
        });
        assert.ok(done < CLIPS.midConvert, `mid-convert: ${done} of ${CLIPS.midConvert} converted`);
        await killAndRestart('cpu');
      });
    });

    test('SIGKILL of the CPU worker mid-store', async (t) => {
      const store = await holdStore();
      try {
        await runDate(t, '2024-09-03', CLIPS.other, async () => {
          await store.waiting();
          await killAndRestart('cpu');
          await store.release();
        });
      } finally {
        await store.release();
      }
    });

    test('restart of PostgreSQL mid-store', async (t) => {
      const store = await holdStore();
      try {
        await runDate(t, '2024-09-04', CLIPS.other, async () => {
          await store.waiting();
          await stack.pg.stop(); // cuts every connection, the store's transaction included
          await stack.pg.start();
        });
      } finally {
        await store.release();
      }
    });

    test('restart of the Temporal dev server mid-date (its SQLite history survives)', async (t) => {
      await runDate(t, '2024-09-05', CLIPS.other, async ({ staging }) => {
        await waitFor('an Opus file converted', async () =>
          (await opusFiles(staging)).length > 0 ? true : undefined,
        );
        await stack.stopTemporal();
        await stack.startTemporal();
      });
      for (const queue of ['cpu', 'gpu'] as const) {
        assert.ok(isRunning(stack.workers[queue]!.pid), `the ${queue} worker rode out the restart`);
      }
    });

    test('staging disk full, then space back', async (t) => {
      const date = '2024-09-06';
      const mount = path.join(stack.stagingDir, date);
      await mkdir(mount, { recursive: true });
      await run('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', mount]);
      const filler = path.join(mount, 'filler');
      try {
        await runDate(t, date, CLIPS.other, async ({ staging, archive }) => {
          // Extracted: fill the disk before convert writes its Opus files.
          await waitFor('the manifest written', () =>
            existsSync(path.join(staging, 'manifest.json')) ? true : undefined,
          );
          const file = await open(filler, 'w');
          try {
            const chunk = Buffer.alloc(256 * 1024);
            for (;;) await file.write(chunk);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          } finally {
            await file.close();
          }
          // The stage fails on the full disk (and is retried), then space comes back.
          const failure = await waitFor(
            'a stage failing on the full disk',
            async () => {
              const { raw } = await stack.client.workflow.getHandle(archiveWorkflowId(archive)).describe();
              const message = raw.pendingActivities?.find((a) => a.lastFailure)?.lastFailure?.message ?? '';
              return /no space left/i.test(message) ? message : undefined;
            },
            60_000,
            200,
          );
          assert.match(failure, /no space left on device/i);
          await rm(filler);
        });
      } finally {
        await rm(filler, { force: true });
        await run('umount', ['-l', mount]).catch(() => {});
      }
    });
  },
);
