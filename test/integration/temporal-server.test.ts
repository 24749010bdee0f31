/**
 * The pipeline on a production Temporal server (deploy/temporal/): the real server (built from
 * the Go module proxy by deploy/temporal/build.sh, cached per machine) with PostgreSQL
 * persistence and SQL visibility in databases of its own on PostgreSQL 15, set up by
 * `audio-pipeline temporal setup`; two CPU-worker processes and one GPU-worker process of one
 * worker build (Worker Versioning), promoted with `audio-pipeline temporal promote`; the date
 * started and followed by `audio-pipeline run` with TEMPORAL_ADDRESS and DATABASE_URL.
 * Mid-date one CPU worker is SIGKILLed, and later the Temporal server restarts: the date
 * finishes, and every clip is accounted for exactly once in the pipeline's database. The Web UI
 * server (deploy/temporal/ui) then lists the date.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { startDate } from '../../temporal-client/start-date.ts';
import { dateWorkflowId } from '../../workflows/contract.ts';
import { CLI, runCli } from '../support/cli.ts';
import { childEnv } from '../support/child-env.ts';
import { freshDatabase, makeTempDir, startPostgres15Cluster } from '../support/postgres.ts';
import { startRealTemporalServer } from '../support/temporal-server.ts';
import { freeLowPorts } from '../support/ports.ts';
import { DEPLOY_DIR } from '../../local/temporal-server-setup.ts';
import { MODEL_CACHE, whisperModelDir } from '../support/whisper-models.ts';

const DATE = '2024-10-07';
const ARCHIVES = 3;
const CLIPS = 3;
const PASSWORD = 'pw-not-in-argv-7f3a';
const BUILD_ID = 'prod-test-1';

interface WorkerChild {
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

test(
  'a date on the production Temporal server: 2 CPU + 1 GPU worker processes, a CPU worker killed, the server restarted',
  { timeout: 10 * 60_000 },
  async (t) => {
    whisperModelDir('tiny.en');
    const dataDir = await makeTempDir('audio-pipeline-prod-');
    const incoming = path.join(dataDir, 'incoming');
    const { truth } = await generateDay({
      date: DATE,
      archives: ARCHIVES,
      clipsPerArchive: CLIPS,
      outDir: incoming,
      seed: 14,
    });
    const cleanups: (() => Promise<unknown>)[] = [];
    t.after(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    });

    // PostgreSQL 15: the CI's (TEST_PG15_URL) or a throwaway cluster; a role with a password
    // (trust auth does not check it, but setup must carry it through without showing it).
    let adminUrl = process.env.TEST_PG15_URL;
    if (!adminUrl) {
      const cluster = await startPostgres15Cluster();
      cleanups.push(() => cluster.close());
      adminUrl = cluster.serverUrl;
    }
    const role = `temporal_t${process.pid}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query(`CREATE ROLE ${role} LOGIN CREATEDB PASSWORD '${PASSWORD}'`);
    await admin.end();
    cleanups.push(async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP ROLE IF EXISTS ${role}`).finally(() => c.end());
    });
    const serverUrl = new URL(adminUrl);
    serverUrl.username = role;
    serverUrl.password = PASSWORD;
    serverUrl.pathname = '/postgres';

    const temporal = await startRealTemporalServer({
      serverUrl: serverUrl.toString(),
      dataDir,
      namespace: 'audio-pipeline-prod',
    });
    cleanups.push(() => temporal.close());
    const pipelineDb = await freshDatabase(adminUrl);
    cleanups.push(() => pipelineDb.drop());

    // The password went to the environment file (0600) only: not to setup's output, not to argv.
    assert.equal(statSync(temporal.settingsFile).mode & 0o777, 0o600);
    assert.match(readFileSync(temporal.settingsFile, 'utf8'), new RegExp(`TEMPORAL_DB_PASSWORD=${PASSWORD}`));
    assert.doesNotMatch(temporal.setup.stderr + temporal.setup.stdout, new RegExp(PASSWORD));
    assert.match(temporal.setup.stderr, /schema up to date/);
    const cmdline = readFileSync(`/proc/${temporal.pid()}/cmdline`, 'utf8');
    assert.doesNotMatch(cmdline, new RegExp(PASSWORD));

    const env = childEnv({
      DATA_DIR: dataDir,
      DATABASE_URL: pipelineDb.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      SOURCE: `local:${incoming}`,
      UPLOAD: 'off',
      WHISPER_MODEL: 'tiny.en',
      WHISPER_MODEL_CACHE: MODEL_CACHE,
      WHISPER_BATCH_SIZE: '1',
      WHISPER_THREADS: '1',
      CONVERT_CONCURRENCY: '1',
      ARCHIVE_CONCURRENCY: '2',
      WORKER_BUILD_ID: BUILD_ID,
      LOG_LEVEL: 'info',
    });

    // Without DATABASE_URL, `run` and `status` against a remote server stop at once, naming it.
    for (const command of [['status'], ['run', '--date', DATE]]) {
      const { DATABASE_URL: _, ...withoutDb } = env;
      const r = await runCli(withoutDb, command, 30_000);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /DATABASE_URL is required with TEMPORAL_ADDRESS/);
    }

    let workerCount = 0;
    const startWorker = async (queue: 'cpu' | 'gpu'): Promise<WorkerChild> => {
      const log = path.join(dataDir, `worker-${queue}-${++workerCount}.log`);
      const out = openSync(log, 'a');
      let child: ChildProcess;
      try {
        child = spawn(process.execPath, [CLI, 'worker', '--queue', queue], {
          env,
          stdio: ['ignore', out, out],
        });
      } finally {
        closeSync(out);
      }
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      cleanups.push(async () => {
        child.kill('SIGKILL');
        await exited;
      });
      await until(
        `the ${queue} worker to poll (${log})`,
        async () => {
          if (child.exitCode !== null) throw new Error(readFileSync(log, 'utf8'));
          return readFileSync(log, 'utf8').includes(`${queue} worker polling`) || undefined;
        },
        120_000,
      );
      return { child, log, exited };
    };
    const [cpuA] = await Promise.all([startWorker('cpu'), startWorker('cpu'), startWorker('gpu')]);

    // The build the workers run becomes the deployment's current version: new dates start on it.
    const promote = await runCli(env, ['temporal', 'promote', '--wait', '120'], 150_000);
    assert.equal(promote.code, 0, promote.stderr);

    const connection = await Connection.connect({ address: temporal.address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    // Short heartbeats, so that the killed worker's activities are retried within seconds.
    await startDate(
      client,
      { date: DATE, gpuTaskQueue: 'audio-pipeline-gpu', archiveConcurrency: 2, heartbeatTimeout: '10s' },
      'audio-pipeline',
    );
    // `run` attaches to the running date, follows it to its end and prints the database's counts.
    const run = runCli(env, ['run', '--date', DATE], 8 * 60_000);

    const db = new pg.Client({ connectionString: pipelineDb.url });
    await db.connect();
    cleanups.push(() => db.end());
    const clipsWith = async (status: string) =>
      (
        await db.query<{ n: number }>(
          `SELECT count(*)::int n FROM audio_files WHERE date = $1 AND status = $2`,
          [DATE, status],
        )
      ).rows[0]!.n;
    const archivesDone = async () =>
      (
        await db.query<{ n: number }>(
          `SELECT count(*)::int n FROM processing_queue WHERE date = $1 AND archive <> '' AND status IN ('completed', 'completed_with_errors', 'failed')`,
          [DATE],
        )
      ).rows[0]!.n;

    // Mid-date: clips are in the database, and not every archive is done. One CPU worker dies.
    await until(
      'the first clips stored',
      async () => ((await clipsWith('stored')) > 0 ? true : undefined),
      180_000,
    );
    assert.ok((await archivesDone()) < ARCHIVES);
    cpuA.child.kill('SIGKILL');
    await cpuA.exited;

    t.diagnostic(`cpu worker killed with ${await archivesDone()}/${ARCHIVES} archives done`);

    // The surviving worker takes over (another archive reaches the database), and then, with
    // archives still to do, the Temporal server restarts (SIGTERM, then the same databases).
    const storedBefore = await clipsWith('stored');
    await until(
      'progress on the other worker',
      async () => ((await clipsWith('stored')) > storedBefore ? true : undefined),
      180_000,
    );
    const doneAtRestart = await archivesDone();
    assert.ok(doneAtRestart < ARCHIVES, 'the date finished before the server could be restarted');
    await temporal.stop();
    await temporal.start();
    t.diagnostic(`Temporal server restarted with ${doneAtRestart}/${ARCHIVES} archives done`);

    const result = await run;
    assert.equal(result.code, 0, `${result.stderr}\n${temporal.log()}`);
    assert.match(result.stdout, new RegExp(`date ${DATE}: completed`));

    // Exact accounting: one row per clip of the truth, each stored once, each with one transcript.
    const rows = (
      await db.query<{ id: string; status: string; transcripts: number }>(
        `SELECT f.id, f.status, (SELECT count(*)::int FROM transcripts t WHERE t.id = f.id) transcripts
         FROM audio_files f WHERE f.date = $1 ORDER BY f.id`,
        [DATE],
      )
    ).rows;
    const expected = Object.values(truth.clips).filter((c) => c.date === DATE);
    assert.equal(expected.length, ARCHIVES * CLIPS);
    assert.deepEqual(
      rows.map((r) => r.id),
      expected.map((c) => c.id).sort(),
    );
    for (const r of rows) {
      assert.equal(r.status, 'stored', r.id);
      assert.equal(r.transcripts, 1, r.id);
    }
    const queue = (
      await db.query<{ archive: string; status: string; files_done: number }>(
        `SELECT archive, status, files_done FROM processing_queue WHERE date = $1 AND archive <> '' ORDER BY archive`,
        [DATE],
      )
    ).rows;
    assert.deepEqual(
      queue.map((q) => [q.status, q.files_done]),
      Array.from({ length: ARCHIVES }, () => ['completed', CLIPS]),
    );

    // The date's workflow ran on the promoted build (pinned), and its history is on the server.
    const description = await client.workflow.getHandle(dateWorkflowId(DATE)).describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.raw.workflowExecutionInfo?.versioningInfo?.deploymentVersion?.buildId, BUILD_ID);

    // The Web UI server (deploy/temporal/ui) shows the date from the production server.
    const [uiPort] = await freeLowPorts(1);
    const ui = spawn(
      path.join(temporal.home, 'bin', 'temporal-ui-server'),
      ['--root', path.join(DEPLOY_DIR, 'ui'), '--env', 'production', 'start'],
      {
        env: childEnv({ TEMPORAL_ADDRESS: temporal.address, TEMPORAL_UI_PORT: String(uiPort) }),
        stdio: 'ignore',
      },
    );
    cleanups.push(async () => {
      ui.kill('SIGKILL');
    });
    const listed = await until(
      'the Web UI to list the date',
      async () => {
        const res = await fetch(
          `http://127.0.0.1:${uiPort}/api/v1/namespaces/${temporal.namespace}/workflows`,
        );
        const text = await res.text();
        return res.ok && text.includes(dateWorkflowId(DATE)) ? text : undefined;
      },
      30_000,
    );
    assert.match(listed, /WORKFLOW_EXECUTION_STATUS_COMPLETED/);
  },
);
