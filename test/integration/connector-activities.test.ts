/**
 * The connectors as the pipeline's activities use them, with settings loaded by loadConfig:
 * listArchives and transferArchives for a `globus:` SOURCE against the local Globus API server
 * (the task id rides in the heartbeat: a timed-out attempt's retry resumes the task, a cancelled
 * workflow cancels it), and uploadClips to an rsync STORAGE_TARGET against a real sshd and a
 * real PostgreSQL (rows marked uploaded with the ssh:// URI only once rsync succeeded).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { ActivityCancellationDetails } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createListArchives } from '../../activities/list-archives.ts';
import { createStore } from '../../activities/store.ts';
import { createTransfer } from '../../activities/transfer.ts';
import { createUpload } from '../../activities/upload.ts';
import { migrate } from '../../db/migrate.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { ArchiveStaging } from '../../lib/staging.ts';
import { startFakeGlobus, type FakeGlobus } from '../support/globus-server.ts';
import { makeTempDir, startEmbeddedTestPostgres } from '../support/postgres.ts';
import { startTestSshd, type TestSshd } from '../support/sshd.ts';
import { writeTranscribedArchive } from '../support/staged-archive.ts';
import { until } from '../support/until.ts';

const SOURCE_ID = '11111111-2222-4333-8444-555555555555';
const DEST_ID = '99999999-8888-4777-8666-555555555555';
const DATE = '2024-05-06';
const ARCHIVES = ['2024-05-06_10-00', '2024-05-06_10-10'];
const logger = createLogger('test', 'silent');

let dataDir: string;
let globus: FakeGlobus;

before(async () => {
  dataDir = await makeTempDir('connectors-');
  const incoming = path.join(dataDir, 'collection', 'tiktok');
  await mkdir(incoming, { recursive: true });
  for (const a of ARCHIVES) await writeFile(path.join(incoming, `${a}.tar.xz`), randomBytes(2048));
  // The destination collection is the data folder: STAGING_DIR is /staging on it.
  globus = await startFakeGlobus({ [SOURCE_ID]: path.join(dataDir, 'collection'), [DEST_ID]: dataDir });
  process.env.GLOBUS_SDK_SERVICE_URL_TRANSFER = globus.url;
  process.env.GLOBUS_SDK_SERVICE_URL_AUTH = globus.url;
});

after(async () => {
  await globus?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function globusConfig(): Config {
  return loadConfig({
    DATA_DIR: dataDir,
    SOURCE: `globus:${SOURCE_ID}:/tiktok`,
    GLOBUS_CLIENT_ID: globus.clientId,
    GLOBUS_CLIENT_SECRET: globus.clientSecret,
    GLOBUS_DEST_ENDPOINT: DEST_ID,
    GLOBUS_DEST_PATH: '/staging',
    GLOBUS_POLL_S: '0.02',
    LOG_LEVEL: 'silent',
  });
}

describe('Globus source activities', () => {
  test("listArchives lists the date's archives on the collection", async () => {
    const { listArchives } = createListArchives({ config: globusConfig(), logger });
    const { archives } = (await new MockActivityEnvironment().run(listArchives, { date: DATE })) as Awaited<
      ReturnType<typeof listArchives>
    >;
    assert.deepEqual(
      archives.map((a) => a.name),
      ARCHIVES,
    );
  });

  test('a timed-out attempt leaves the task running; the retry resumes it from the heartbeat', async () => {
    const config = globusConfig();
    const { transferArchives } = createTransfer({ config, logger });
    globus.faults.hold = true;
    const first = new MockActivityEnvironment({ heartbeatTimeoutMs: 60_000 });
    const beats: { taskId?: string }[] = [];
    first.on('heartbeat', (d: { taskId?: string }) => beats.push(d));
    const attempt = first.run(transferArchives, { date: DATE, archives: ARCHIVES });
    await until(() => beats.some((b) => b.taskId), 'the task id heartbeat');
    first.cancel('TIMED_OUT', new ActivityCancellationDetails({ timedOut: true }));
    await assert.rejects(attempt);
    const taskId = beats.find((b) => b.taskId)!.taskId!;
    const tasks = globus.tasks.size;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(globus.tasks.get(taskId)!.status, 'ACTIVE', 'not cancelled: the retry resumes it');

    globus.faults.hold = false;
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: beats.at(-1) });
    const resumed = retry.run(transferArchives, { date: DATE, archives: ARCHIVES });
    globus.tasks.get(taskId)!.release!();
    const result = await resumed;
    assert.deepEqual(result, { archives: 2, bytes: 4096 });
    assert.equal(globus.tasks.size, tasks, 'no second task');
    for (const a of ARCHIVES) {
      const staged = new ArchiveStaging(config.stagingDir, DATE, a).archiveFile;
      assert.deepEqual(
        await readFile(staged),
        await readFile(path.join(dataDir, 'collection', 'tiktok', `${a}.tar.xz`)),
      );
    }
  });

  test('cancelling the workflow cancels the Globus task', async () => {
    const { transferArchives } = createTransfer({ config: globusConfig(), logger });
    globus.faults.hold = true;
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 60_000 });
    const beats: { taskId?: string }[] = [];
    env.on('heartbeat', (d: { taskId?: string }) => beats.push(d));
    const run = env.run(transferArchives, { date: DATE, archives: ARCHIVES });
    await until(() => beats.some((b) => b.taskId), 'the task id heartbeat');
    env.cancel();
    await assert.rejects(run);
    const task = globus.tasks.get(beats.find((b) => b.taskId)!.taskId!)!;
    await until(() => task.status === 'FAILED', 'the task cancelled at Globus');
    assert.equal(task.fatal_error?.code, 'CANCELED');
    globus.faults.hold = false;
  });

  test('a globus: source without its settings fails non-retryably, naming them', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    const { listArchives } = createListArchives({ config, logger });
    await assert.rejects(
      new MockActivityEnvironment().run(listArchives, { date: DATE, source: `globus:${SOURCE_ID}:/tiktok` }),
      (err: unknown) =>
        (err as { nonRetryable?: boolean }).nonRetryable === true &&
        /GLOBUS_CLIENT_ID/.test((err as Error).message) &&
        /GLOBUS_DEST_ENDPOINT/.test((err as Error).message),
    );
  });
});

describe('rsync storage target activity', () => {
  let pg: Awaited<ReturnType<typeof startEmbeddedTestPostgres>>;
  let sshd: TestSshd;
  let config: Config;
  let remoteRoot: string;

  before(async () => {
    [pg, sshd] = await Promise.all([startEmbeddedTestPostgres(), startTestSshd()]);
    await migrate(pg.opened.db);
    remoteRoot = path.join(sshd.dir, 'opus-root');
    await mkdir(remoteRoot);
    config = loadConfig({
      DATA_DIR: dataDir,
      STORAGE_TARGET: `${sshd.user}@127.0.0.1:${remoteRoot}`,
      STORAGE_SSH_KEY: sshd.clientKey,
      STORAGE_SSH_PORT: String(sshd.port),
      STORAGE_KNOWN_HOSTS: sshd.knownHosts,
      STORAGE_TIMEOUT_S: '20',
      LOG_LEVEL: 'silent',
    });
  });
  after(async () => {
    await sshd?.close();
    await pg?.close();
  });

  /** An archive's staging folder as transcription leaves it: one converted clip, its transcript. */
  async function stageAndStore(archive: string, id: string): Promise<string> {
    const staging = await writeTranscribedArchive(config.stagingDir, DATE, archive, [
      { id, opus: randomBytes(3000), text: 'hi' },
    ]);
    const { storeArchive } = createStore({ config, logger, db: pg.opened.db });
    await new MockActivityEnvironment().run(storeArchive, { date: DATE, archive });
    return staging.opusPath(id);
  }

  async function row(id: string): Promise<{ status: string; uri: string | null }> {
    const { rows } = await pg.opened.db.execute<{ status: string; uri: string | null }>(
      sql`SELECT status, storage_uri AS uri FROM audio_files WHERE id = ${id}`,
    );
    return rows[0]!;
  }

  test('uploadClips sends the files over rsync and marks the rows with their ssh:// URI', async () => {
    const id = '7318273645512990001';
    const opus = await stageAndStore('2024-05-06_11-00', id);
    const { uploadClips } = createUpload({ config, logger, db: pg.opened.db });
    const result = await new MockActivityEnvironment().run(uploadClips, {
      date: DATE,
      archive: '2024-05-06_11-00',
    });
    assert.deepEqual(result, { uploaded: 1, skipped: false });
    const stored = path.join(remoteRoot, '2024', '05', '06', `${id}.opus`);
    assert.deepEqual(await readFile(stored), await readFile(opus));
    assert.deepEqual(await row(id), {
      status: 'uploaded',
      uri: `ssh://${sshd.user}@127.0.0.1:${sshd.port}${stored}`,
    });
  });

  test('sshd down: the attempt fails retryably and nothing is marked uploaded', async () => {
    const id = '7318273645512990002';
    await stageAndStore('2024-05-06_11-10', id);
    const { uploadClips } = createUpload({ config, logger, db: pg.opened.db });
    await sshd.stop();
    try {
      await assert.rejects(
        new MockActivityEnvironment().run(uploadClips, { date: DATE, archive: '2024-05-06_11-10' }),
        (err: unknown) =>
          (err as Error).name === 'RsyncTransientError' && /Connection refused/.test((err as Error).message),
      );
    } finally {
      await sshd.start();
    }
    assert.deepEqual(await row(id), { status: 'stored', uri: null });
    const { uploadClips: retry } = createUpload({ config, logger, db: pg.opened.db });
    await new MockActivityEnvironment({ attempt: 2 }).run(retry, { date: DATE, archive: '2024-05-06_11-10' });
    assert.equal((await row(id)).status, 'uploaded');
  });
});
