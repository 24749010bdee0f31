/**
 * The GPU worker as a SLURM pilot job, against a real one-node SLURM (.ci/slurm.sh) and a real
 * Temporal dev server, PostgreSQL and Whisper model (tiny.en on the CPU; the cluster's GPUs are
 * stand-ins, so `--gres=gpu:1` schedules as on a GPU node):
 *  - a job whose time limit leaves no room for a batch polls nothing and exits 0;
 *  - the autoscaler submits as many jobs as the waiting archives need, capped at its max, and
 *    none more when the round is repeated;
 *  - `scancel --batch --signal=TERM` mid-archive (what `--signal=B:TERM@lead` sends) makes the
 *    worker finish its batch, hand the rest over and exit 0; a second job finishes the date from
 *    the batches on disk; every clip ends transcribed exactly once.
 */
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { gpuJobPrefix } from '../../lib/hpc/autoscale.ts';
import { gpuJobEnvironment } from '../../lib/hpc/job-environment.ts';
import { isLive, listJobs, submitJob } from '../../lib/hpc/slurm.ts';
import { migrate } from '../../db/migrate.ts';
import { GPU_WORKER_SCRIPT } from '../../activities/autoscale.ts';
import { createCpuWorker } from '../../workers/cpu-worker.ts';
import { pilotStatusFile } from '../../workers/pilot.ts';
import type { AutoscaleResult } from '../../workflows/contract.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { MODEL_CACHE, whisperModelDir } from '../support/whisper-models.ts';
import { makeTempDir, startEmbeddedTestPostgres } from '../support/postgres.ts';
import { requireSlurm, scancel, waitForJobState } from '../support/slurm.ts';
import { createLocalTestEnvironment } from '../support/temporal.ts';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));
const DATE = '2024-09-03';
const FINISHED = ['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED'];
const CLIPS = 5; // WHISPER_BATCH_SIZE=1 → batches of 4 clips: 4 + 1

test(
  'GPU pilot jobs under SLURM: walltime, autoscaling, drain on SIGTERM',
  { timeout: 6 * 60_000 },
  async () => {
    await requireSlurm();
    whisperModelDir('tiny.en'); // fails here, clearly, when the model is not in the cache
    const dataDir = await makeTempDir('audio-pipeline-slurm-');
    const incoming = path.join(dataDir, 'incoming');
    await generateDay({ date: DATE, archives: 2, clipsPerArchive: CLIPS, outDir: incoming, seed: 8 });
    const [env, pg] = await Promise.all([createLocalTestEnvironment(), startEmbeddedTestPostgres()]);
    const suffix = `${process.pid}`;
    const config = loadConfig({
      DATA_DIR: dataDir,
      DATABASE_URL: pg.url,
      SOURCE: `local:${incoming}`,
      TEMPORAL_ADDRESS: env.address,
      TASK_QUEUE: `slurm-cpu-${suffix}`,
      GPU_TASK_QUEUE: `slurm-gpu-${suffix}`,
      UPLOAD: 'off',
      WHISPER_MODEL: 'tiny.en',
      WHISPER_MODEL_CACHE: MODEL_CACHE,
      WHISPER_BATCH_SIZE: '1',
      PILOT_WHISPER_DEVICE: 'cpu',
      PILOT_FIRST_BATCH_S: '20',
      PILOT_GRACE_S: '60',
      PILOT_IDLE_EXIT_MIN: '0.25',
      LOG_LEVEL: 'info',
    });
    const prefix = gpuJobPrefix(config.temporal.gpuTaskQueue);
    const logOf = (name: string, id: string) => path.join(dataDir, 'slurm', 'logs', `${name}-${id}.log`);
    try {
      await migrate(pg.opened.db);
      const worker = await createCpuWorker({
        config,
        logger: createLogger('test', 'warn'),
        db: pg.opened.db,
        connection: env.nativeConnection,
      });
      await worker.runUntil(async () => {
        const date = await env.client.workflow.start('processDate', {
          taskQueue: config.temporal.taskQueue,
          workflowId: `process-date-${DATE}`,
          args: [{ date: DATE, gpuTaskQueue: config.temporal.gpuTaskQueue }],
        });
        const autoscale = async (maxJobs: number) =>
          (await env.client.workflow.execute('autoscaleGpuWorkers', {
            taskQueue: config.temporal.taskQueue,
            workflowId: `autoscale-${Date.now()}`,
            args: [{ maxJobs, rounds: 1 }],
          })) as AutoscaleResult;

        // Both archives wait at transcription: nobody polls the GPU queue yet.
        const archiveDirs = ['00-00', '00-10'].map((hhmm) =>
          path.join(config.stagingDir, DATE, `${DATE}_${hhmm}`),
        );
        await waitFor(async () => {
          const round = await env.client.workflow.list({ query: `WorkflowType = 'processArchive'` });
          let waiting = 0;
          for await (const w of round) {
            const d = await env.client.workflow.getHandle(w.workflowId).describe();
            waiting += (d.raw.pendingActivities ?? []).filter(
              (a) => a.activityType?.name === 'transcribeClips',
            ).length;
          }
          return waiting === 2;
        }, 120_000);

        // A 1-minute job cannot fit a batch (margin 2 × 40 s): it polls nothing and exits 0.
        const shortName = `${prefix}-short`;
        const shortId = await submitJob({
          script: GPU_WORKER_SCRIPT,
          jobName: shortName,
          time: '1',
          signalLeadS: 10, // the script's 300 s lead would end a 1-minute job at once
          output: logOf(shortName, '%j'),
          env: { ...gpuJobEnvironment(config), PILOT_FIRST_BATCH_S: '40' },
        });
        // With the script's own 300 s lead, a 1-minute job is signalled as it starts (SLURM may
        // deliver it a little later): whenever it lands, the job ends 0 without taking work.
        const earlyName = `${prefix}-early`;
        const earlyId = await submitJob({
          script: GPU_WORKER_SCRIPT,
          jobName: earlyName,
          time: '1',
          output: logOf(earlyName, '%j'),
          env: { ...gpuJobEnvironment(config), PILOT_FIRST_BATCH_S: '40' },
        });
        const short = await waitForJobState(shortId, FINISHED, 90_000);
        const shortLog = await readFile(logOf(shortName, shortId), 'utf8');
        assert.equal(short.JobState, 'COMPLETED', shortLog.slice(-2000));
        assert.equal(short.ExitCode, '0:0');
        assert.match(shortLog, /pilot: model loaded and warmed up/);
        assert.match(
          shortLog,
          /s left in the job, a batch needs 80 s.*near the end of the job, polling stops/,
        );
        assert.doesNotMatch(shortLog, /pilot: gpu worker polling/);
        const early = await waitForJobState(earlyId, FINISHED, 90_000);
        const earlyLog = await readFile(logOf(earlyName, earlyId), 'utf8');
        assert.deepEqual([early.JobState, early.ExitCode], ['COMPLETED', '0:0'], earlyLog.slice(-2000));
        assert.match(earlyLog, /nothing to drain|pilot: signal before polling|polling stops/);
        assert.doesNotMatch(earlyLog, /pilot: gpu worker polling/);

        // Two archives waiting, at most one job: one job. Repeating the round adds none.
        const first = await autoscale(1);
        assert.equal(first.submitted.length, 1, JSON.stringify(first));
        assert.equal(first.submitted[0].name, `${prefix}-0`);
        // The repeated round through the CLI, as an operator would run it.
        const cli = await run(process.execPath, [CLI, 'slurm', 'autoscale', '--once', '--max', '1'], {
          env: gpuJobEnvironment(config),
          timeout: 60_000,
        });
        const again = JSON.parse(cli.stdout) as AutoscaleResult;
        assert.deepEqual(again.submitted, [], 'a repeated round finds the job it submitted');
        const firstJob = first.submitted[0].jobId;
        const firstLog = logOf(first.submitted[0].name, firstJob);

        // The job takes an archive (its first attempt's partial transcripts file appears as the first
        // batch starts); during that batch SLURM's end-of-time signal arrives.
        const busy = await waitFor(async () => {
          for (const dir of archiveDirs) {
            const names = await readdir(dir).catch(() => [] as string[]);
            const partial = names.find((n) => n.startsWith('transcripts.jsonl.partial-1-'));
            if (partial) return path.join(dir, partial);
          }
          return undefined;
        }, 150_000);
        await scancel(['--batch', '--signal=TERM', firstJob]);
        const drained = await waitForJobState(firstJob, FINISHED, 90_000, firstLog);
        const drainLog = await readFile(firstLog, 'utf8');
        assert.equal(drained.JobState, 'COMPLETED', drainLog.slice(-2000));
        assert.equal(drained.ExitCode, '0:0');
        assert.match(drainLog, /pilot: signal, draining/);
        assert.match(drainLog, /"reason":"draining \(SIGTERM\)","msg":"pilot: starting no new batch"/);
        assert.match(drainLog, /"type":"WorkerLeaving"/);
        assert.match(drainLog, /"reason":"signal".*pilot: gpu worker stopped/);
        const handedOver = (await readFile(busy, 'utf8')).split('\n').filter(Boolean).length;
        assert.equal(handedOver, 4, 'the batch in flight when the signal came was finished and kept');

        // Work is left and no job is live: the next round submits one, which finishes the date.
        const second = await autoscale(1);
        assert.equal(second.submitted.length, 1, JSON.stringify(second));
        const summary = (await date.result()) as { status: string };
        assert.equal(summary.status, 'completed', JSON.stringify(summary));
        const secondJob = second.submitted[0].jobId;
        const idle = await waitForJobState(
          secondJob,
          FINISHED,
          90_000,
          logOf(second.submitted[0].name, secondJob),
        );
        assert.equal(idle.ExitCode, '0:0', 'the second job left when idle');
        const secondLog = await readFile(logOf(second.submitted[0].name, secondJob), 'utf8');
        assert.match(secondLog, /"resumed":4,.*"msg":"transcribe done"/, 'the handed-over archive resumed');
        const status = JSON.parse(await readFile(pilotStatusFile(config, secondJob), 'utf8')) as object;
        assert.deepEqual(
          { ...status, batches: undefined, endsAt: undefined },
          {
            jobId: secondJob,
            node: 'localhost',
            state: 'exited (idle)',
            tasks: 2,
            batches: undefined,
            endsAt: undefined,
          },
        );
      });

      // No clip lost or duplicated: one transcript per clip, every clip stored.
      const { rows } = await pg.opened.pool.query(
        `SELECT count(*)::int AS clips, count(DISTINCT t.id)::int AS transcribed,
              count(*) FILTER (WHERE a.status = 'stored')::int AS stored
         FROM audio_files a LEFT JOIN transcripts t ON t.id = a.id WHERE a.date = $1`,
        [DATE],
      );
      assert.deepEqual(rows[0], { clips: 2 * CLIPS, transcribed: 2 * CLIPS, stored: 2 * CLIPS });
    } finally {
      for (const job of (await listJobs(prefix).catch(() => [])).filter(isLive))
        await scancel([job.id]).catch(() => undefined);
      await env.teardown();
      await pg.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  },
);

async function waitFor<T>(check: () => Promise<T>, timeoutMs: number): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}
