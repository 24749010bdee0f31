import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchTimes, Walltime, parseSlurmEndTime } from '../../lib/hpc/walltime.ts';
import { gpuJobPrefix, jobsToSubmit } from '../../lib/hpc/autoscale.ts';
import { parseSqueue, type SlurmJob } from '../../lib/hpc/slurm.ts';
import { APP_DIR, gpuJobEnvironment } from '../../lib/hpc/job-environment.ts';
import { loadConfig } from '../../lib/config.ts';

test('parseSlurmEndTime reads SLURM_JOB_END_TIME, squeue %e and scontrol show job', () => {
  assert.equal(parseSlurmEndTime('1796143200')?.toISOString(), '2026-12-01T16:40:00.000Z');
  const local = new Date(2026, 11, 1, 14, 5, 0); // SLURM prints the cluster's local time
  assert.equal(parseSlurmEndTime('2026-12-01T14:05:00\n')?.getTime(), local.getTime());
  const scontrol =
    'JobId=7 JobName=x\n   StartTime=2026-12-01T13:05:00 EndTime=2026-12-01T14:05:00 Deadline=N/A\n';
  assert.equal(parseSlurmEndTime(scontrol)?.getTime(), local.getTime());
  for (const none of ['Unknown', 'N/A', 'NONE', '', 'EndTime=Unknown'])
    assert.equal(parseSlurmEndTime(none), undefined, none);
  assert.throws(() => parseSlurmEndTime('squeue: error: Invalid job id specified'), /not a SLURM end time/);
  assert.throws(() => parseSlurmEndTime('2026-13-45T99:00:00'), /not a SLURM end time/);
});

test('BatchTimes keeps the longest of the recent batches only', () => {
  const times = new BatchTimes(3);
  assert.equal(times.longest(), undefined);
  for (const ms of [9000, 1000, 2000]) times.record(ms);
  assert.equal(times.longest(), 9000);
  times.record(3000); // the 9 s warm-up batch drops out
  assert.equal(times.longest(), 3000);
});

test('a batch starts only while the time left exceeds twice the longest recent batch', () => {
  let now = 0;
  const walltime = new Walltime({ endsAt: new Date(100_000), firstBatchMs: 10_000, now: () => now });
  assert.equal(walltime.marginMs(), 20_000, 'before any batch: twice the assumed first batch');
  assert.deepEqual(walltime.mayStartBatch(), { start: true });
  walltime.recordBatch(30_000);
  assert.equal(walltime.marginMs(), 60_000);
  now = 39_000; // 61 s left
  assert.deepEqual(walltime.mayStartBatch(), { start: true });
  now = 40_000; // 60 s left: a batch as slow as the slowest could not finish with room to spare
  const refused = walltime.mayStartBatch();
  assert.equal(refused.start, false);
  assert.match(refused.start ? '' : refused.reason, /60 s left in the job, a batch needs 60 s/);
});

test('a fixed margin wins over measured batches; no end time means no limit', () => {
  let now = 0;
  const fixed = new Walltime({
    endsAt: new Date(100_000),
    marginMs: 5000,
    firstBatchMs: 60_000,
    now: () => now,
  });
  fixed.recordBatch(50_000);
  now = 94_000;
  assert.equal(fixed.mayStartBatch().start, true);
  now = 95_000;
  assert.equal(fixed.mayStartBatch().start, false);
  const unlimited = new Walltime({ firstBatchMs: 60_000 });
  assert.equal(unlimited.timeLeftMs(), Infinity);
  assert.equal(unlimited.mayStartBatch().start, true);
});

test('after drain (SIGTERM) no batch starts, whatever the time left', () => {
  const walltime = new Walltime({ firstBatchMs: 1000 });
  walltime.drain('SIGTERM');
  walltime.drain('SIGINT'); // the first reason stays
  assert.deepEqual(walltime.mayStartBatch(), { start: false, reason: 'draining (SIGTERM)' });
});

const job = (id: string, name: string, state = 'PENDING'): SlurmJob => ({
  id,
  name,
  state,
  nodes: '(Priority)',
  elapsed: '0:00',
  timeLeft: '1:00:00',
});

test('the autoscaler asks for one job per archive in sight, up to its max, minus live jobs', () => {
  const prefix = gpuJobPrefix('q');
  assert.equal(prefix, 'ap-gpu-q');
  assert.deepEqual(jobsToSubmit({ waiting: 2, running: 0 }, [], 4, prefix), ['ap-gpu-q-0', 'ap-gpu-q-1']);
  assert.deepEqual(jobsToSubmit({ waiting: 9, running: 0 }, [], 3, prefix), [
    'ap-gpu-q-0',
    'ap-gpu-q-1',
    'ap-gpu-q-2',
  ]);
  // A retried round sees what the first one submitted and adds nothing.
  const live = [job('1', 'ap-gpu-q-0'), job('2', 'ap-gpu-q-1')];
  assert.deepEqual(jobsToSubmit({ waiting: 2, running: 0 }, live, 4, prefix), []);
  // A job started and took one archive: demand and supply both still 2.
  assert.deepEqual(jobsToSubmit({ waiting: 1, running: 1 }, live, 4, prefix), []);
  // A hand submitted job counts too; the new one takes the lowest free slot.
  assert.deepEqual(
    jobsToSubmit(
      { waiting: 3, running: 0 },
      [job('3', 'ap-gpu-q-manual'), job('4', 'ap-gpu-q-0')],
      4,
      prefix,
    ),
    ['ap-gpu-q-1'],
  );
  assert.deepEqual(jobsToSubmit({ waiting: 0, running: 0 }, [], 4, prefix), []);
});

test('parseSqueue reads the pipe-separated squeue format', () => {
  assert.deepEqual(
    parseSqueue('12|ap-gpu-q-0|RUNNING|node7|1:02|58:58\n13|ap-gpu-q-1|PENDING|(Resources)|0:00|1:00:00\n'),
    [
      { id: '12', name: 'ap-gpu-q-0', state: 'RUNNING', nodes: 'node7', elapsed: '1:02', timeLeft: '58:58' },
      {
        id: '13',
        name: 'ap-gpu-q-1',
        state: 'PENDING',
        nodes: '(Resources)',
        elapsed: '0:00',
        timeLeft: '1:00:00',
      },
    ],
  );
});

test('a submitted job gets the submitter’s settings back through its environment', () => {
  const submitter = loadConfig({
    DATA_DIR: '/shared/ap',
    TEMPORAL_ADDRESS: 'temporal.example:7233',
    GPU_TASK_QUEUE: 'gpu-q',
    TASK_QUEUE: 'cpu-q',
    WHISPER_MODEL: 'tiny.en',
    WHISPER_BATCH_SIZE: '3',
    WHISPER_WORD_TIMESTAMPS: '1',
    WHISPER_SEGMENTS: 'timestamps',
    WHISPER_DEVICE: 'cpu',
    PILOT_WHISPER_DEVICE: 'cuda',
    PILOT_MARGIN_S: '90',
    PILOT_IDLE_EXIT_MIN: '0.5',
    DATABASE_URL: 'postgres://u:secret@db/x',
  });
  const env = gpuJobEnvironment(submitter);
  const job = loadConfig(env);
  assert.deepEqual(job.temporal, { ...submitter.temporal });
  assert.equal(job.stagingDir, submitter.stagingDir);
  assert.deepEqual(job.whisper, { ...submitter.whisper, device: 'cuda', threads: job.whisper.threads });
  assert.deepEqual(job.pilot, submitter.pilot);
  assert.equal(env.AUDIO_PIPELINE_DIR, APP_DIR);
  assert.ok(
    !Object.values(env).some((v) => v?.includes('secret')),
    'the database password is not written out',
  );
});
