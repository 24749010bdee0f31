/**
 * A generated day end to end through both production connectors: SOURCE=globus:… against the
 * local Globus API server (test/support/globus-server.ts; its source collection holds the day,
 * its destination collection is DATA_DIR with STAGING_DIR at /staging) and
 * STORAGE_TARGET=user@127.0.0.1:… against a real sshd. The rest is the real pipeline: Temporal
 * dev server, embedded PostgreSQL, ffmpeg and the tiny Whisper model.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { exportDate, type ExportRow } from '../../db/queries/export-date.ts';
import { generateDay, type Truth } from '../../lib/sample-day/generate.ts';
import type { DateSummary } from '../../workflows/contract.ts';
import { startFakeGlobus, type FakeGlobus } from '../support/globus-server.ts';
import { makeTempDir } from '../support/postgres.ts';
import { startTestSshd, type TestSshd } from '../support/sshd.ts';
import { startTestPipeline, type TestPipeline } from '../support/test-pipeline.ts';

const DATE = '2024-09-10';
const SOURCE_ID = '11111111-2222-4333-8444-555555555555';
const DEST_ID = '99999999-8888-4777-8666-555555555555';
const CPU_QUEUE = 'test-connectors-cpu';
const GPU_QUEUE = 'test-connectors-gpu';

let globus: FakeGlobus;
let sshd: TestSshd;
let pipeline: TestPipeline;
let truth: Truth;
let remoteRoot: string;

before(async () => {
  const dataDir = await makeTempDir('audio-pipeline-connectors-');
  const collection = path.join(dataDir, 'collection');
  truth = (
    await generateDay({
      date: DATE,
      archives: 2,
      clipsPerArchive: 2,
      outDir: path.join(collection, 'day'),
      seed: 5,
    })
  ).truth;
  globus = await startFakeGlobus({ [SOURCE_ID]: collection, [DEST_ID]: dataDir });
  process.env.GLOBUS_SDK_SERVICE_URL_TRANSFER = globus.url;
  process.env.GLOBUS_SDK_SERVICE_URL_AUTH = globus.url;
  sshd = await startTestSshd();
  remoteRoot = path.join(sshd.dir, 'opus');
  await mkdir(remoteRoot);
  pipeline = await startTestPipeline({
    dataDir,
    incoming: collection,
    logLevel: 'silent',
    settings: {
      SOURCE: `globus:${SOURCE_ID}:/day`,
      GLOBUS_CLIENT_ID: globus.clientId,
      GLOBUS_CLIENT_SECRET: globus.clientSecret,
      GLOBUS_DEST_ENDPOINT: DEST_ID,
      GLOBUS_DEST_PATH: '/staging',
      GLOBUS_POLL_S: '0.2',
      STORAGE_TARGET: `${sshd.user}@127.0.0.1:${remoteRoot}`,
      STORAGE_SSH_KEY: sshd.clientKey,
      STORAGE_SSH_PORT: String(sshd.port),
      STORAGE_KNOWN_HOSTS: sshd.knownHosts,
      WHISPER_MODEL: 'tiny.en',
    },
  });
  await pipeline.cpuWorker(CPU_QUEUE);
  await pipeline.gpuWorker(GPU_QUEUE);
  pipeline.runWorkers();
});

after(async () => {
  await pipeline?.close();
  await sshd?.close();
  await globus?.close();
});

test(
  'a day comes in by one Globus task and goes out over rsync, every clip uploaded',
  { timeout: 10 * 60_000 },
  async () => {
    const summary = (await pipeline.env.client.workflow.execute('processDate', {
      taskQueue: CPU_QUEUE,
      workflowId: `process-date-${DATE}`,
      args: [{ date: DATE, gpuTaskQueue: GPU_QUEUE }],
    })) as DateSummary;
    assert.equal(summary.status, 'completed', JSON.stringify(summary));

    const tasks = [...globus.tasks.values()];
    assert.equal(tasks.length, 1, 'one transfer task for the date');
    assert.equal(tasks[0].status, 'SUCCEEDED');
    assert.equal(tasks[0].files, 2);

    const rows: ExportRow[] = [];
    for await (const row of exportDate(pipeline.pg.opened.db, DATE)) rows.push(row);
    const expected = Object.values(truth.clips).map((c) => c.id);
    assert.deepEqual(rows.map((r) => r.id).sort(), expected.sort());
    for (const row of rows) {
      assert.equal(row.status, 'uploaded', `${row.id}: ${row.error}`);
      const stored = path.join(remoteRoot, '2024', '09', '10', `${row.id}.opus`);
      assert.equal(row.storage_uri, `ssh://${sshd.user}@127.0.0.1:${sshd.port}${stored}`);
      assert.equal((await readFile(stored)).subarray(0, 4).toString(), 'OggS', `${stored} is an Ogg file`);
    }
  },
);
