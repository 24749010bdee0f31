/**
 * The Globus connector through the official @globus/sdk against the local Globus API server
 * (test/support/globus-server.ts), whose two "collections" are temp folders: listing a date's
 * archives, one transfer task that really copies them into the staging layout, resuming the
 * task a previous attempt submitted, cancelling, and the faults Globus reports — each with the
 * error kind (retryable or not) it deserves.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BadInputError, ConfigError } from '../../lib/errors.ts';
import { GlobusClient, GlobusTransientError } from '../../lib/globus/client.ts';
import {
  listGlobusArchives,
  listGlobusDates,
  runGlobusTransfer,
  type GlobusTransferRequest,
  type TransferProgress,
} from '../../lib/globus/transfer.ts';
import type { GlobusSource } from '../../lib/source/parse.ts';
import { startFakeGlobus, type FakeGlobus } from '../support/globus-server.ts';
import { until } from '../support/until.ts';

const SOURCE_ID = '11111111-2222-4333-8444-555555555555';
const DEST_ID = '99999999-8888-4777-8666-555555555555';
const DATE = '2024-01-15';
const ARCHIVES = ['2024-01-15_00-00', '2024-01-15_00-10', '2024-01-15_00-20'];

let tmp: string;
let incoming: string;
let staging: string;
let globus: FakeGlobus;
let client: GlobusClient;
const source: GlobusSource = { kind: 'globus', endpoint: SOURCE_ID, path: '/archive/tiktok' };

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'globus-test-'));
  incoming = path.join(tmp, 'source-collection');
  staging = path.join(tmp, 'staging');
  await mkdir(path.join(incoming, 'archive', 'tiktok', `${DATE}_99-99.tar.xz`), { recursive: true });
  await mkdir(staging);
  for (const name of ARCHIVES)
    await writeFile(path.join(incoming, 'archive', 'tiktok', `${name}.tar.xz`), randomBytes(4096));
  await writeFile(path.join(incoming, 'archive', 'tiktok', `${DATE}_notes.txt`), 'x');
  await writeFile(path.join(incoming, 'archive', 'tiktok', '2024-01-16_00-00.tar.xz'), 'other day');
  globus = await startFakeGlobus({ [SOURCE_ID]: incoming, [DEST_ID]: staging });
  // How @globus/sdk is pointed at a non-production service (a preview environment, this server).
  process.env.GLOBUS_SDK_SERVICE_URL_TRANSFER = globus.url;
  process.env.GLOBUS_SDK_SERVICE_URL_AUTH = globus.url;
  client = new GlobusClient({ clientId: globus.clientId, clientSecret: () => globus.clientSecret });
});

after(async () => {
  await globus?.close();
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  globus.faults = {};
  await rm(path.join(staging, DATE), { recursive: true, force: true });
});

function request(
  overrides: Partial<GlobusTransferRequest> = {},
): GlobusTransferRequest & { recorded: TransferProgress[] } {
  const recorded: TransferProgress[] = [];
  return {
    source,
    destinationEndpoint: DEST_ID,
    label: `audio-pipeline ${DATE}, 3 archives`,
    items: ARCHIVES.map((a) => ({
      source_path: `/archive/tiktok/${a}.tar.xz`,
      destination_path: `/${DATE}/${a}/archive.tar.xz`,
    })),
    record: (p) => recorded.push(p),
    pollMs: 20,
    cancelTaskOnAbort: () => true,
    recorded,
    ...overrides,
  };
}

async function staged(archive: string): Promise<Buffer> {
  return readFile(path.join(staging, DATE, archive, 'archive.tar.xz'));
}

describe('Globus listing', () => {
  test("lists the date's archives in time order; misnamed entries of the date are reported", async () => {
    const ignored: string[] = [];
    const archives = await listGlobusArchives(client, source, DATE, ignored);
    assert.deepEqual(
      archives.map((a) => [a.name, a.bytes]),
      ARCHIVES.map((a) => [a, 4096]),
    );
    assert.deepEqual(ignored.sort(), [`${DATE}_99-99.tar.xz`, `${DATE}_notes.txt`]);
    assert.ok(globus.requests.some((r) => r === `GET /v0.10/operation/endpoint/${SOURCE_ID}/ls`));
  });

  test("the schedule's discovery lists every date with archives on the collection", async () => {
    assert.deepEqual(await listGlobusDates(client, source), [
      { date: DATE, archives: ARCHIVES },
      { date: '2024-01-16', archives: ['2024-01-16_00-00'] },
    ]);
    assert.deepEqual(await listGlobusDates(client, source, { from: '2024-01-16' }), [
      { date: '2024-01-16', archives: ['2024-01-16_00-00'] },
    ]);
  });

  test('an unknown collection is a ConfigError; a missing folder is bad input', async () => {
    await assert.rejects(
      listGlobusArchives(client, { ...source, endpoint: '00000000-0000-4000-8000-000000000000' }, DATE),
      (err: unknown) => err instanceof ConfigError && /EndpointNotFound/.test(err.message),
    );
    await assert.rejects(
      listGlobusArchives(client, { ...source, path: '/nowhere' }, DATE),
      (err: unknown) => err instanceof BadInputError && /ClientError\.NotFound/.test(err.message),
    );
  });
});

describe('Globus transfer task', () => {
  test('one checksum-verified task copies every archive into the staging layout', async () => {
    const before1 = globus.tasks.size;
    const r = request();
    const task = await runGlobusTransfer(client, r);
    assert.equal(task.status, 'SUCCEEDED');
    assert.equal(globus.tasks.size, before1 + 1, 'one task for the date');
    const fake = globus.tasks.get(task.task_id)!;
    assert.equal(fake.label, `audio-pipeline ${DATE}, 3 archives`);
    assert.equal(fake.sync_level, 3);
    assert.equal(fake.verify_checksum, true);
    for (const a of ARCHIVES)
      assert.deepEqual(
        await staged(a),
        await readFile(path.join(incoming, 'archive', 'tiktok', `${a}.tar.xz`)),
      );
    assert.equal(
      r.recorded[0].submissionId !== undefined && r.recorded[0].taskId,
      undefined,
      'submission id first',
    );
    assert.equal(r.recorded.at(-1)?.taskId, task.task_id);
    assert.deepEqual([r.recorded.at(-1)?.done, r.recorded.at(-1)?.total], [3, 3]);
  });

  test("a retried attempt resumes the previous attempt's task instead of submitting another", async () => {
    globus.faults.hold = true;
    const first = request();
    const controller = new AbortController();
    const attempt1 = runGlobusTransfer(client, {
      ...first,
      signal: controller.signal,
      cancelTaskOnAbort: () => false, // the attempt timed out: the task goes on
    });
    await until(() => first.recorded.some((p) => p.taskId), 'the task id in the heartbeat');
    controller.abort(new Error('attempt timed out'));
    await assert.rejects(attempt1, /attempt timed out/);
    const taskId = first.recorded.at(-1)!.taskId!;
    assert.equal(globus.tasks.get(taskId)!.status, 'ACTIVE', 'not cancelled');
    const tasks = globus.tasks.size;

    const second = request({ previous: first.recorded.at(-1) });
    const resumed = runGlobusTransfer(client, second);
    await until(() => second.recorded.length > 0, 'the retry polling');
    globus.tasks.get(taskId)!.release!();
    const task = await resumed;
    assert.equal(task.task_id, taskId);
    assert.equal(globus.tasks.size, tasks, 'no second task');
    assert.ok((await staged(ARCHIVES[0])).length === 4096);
  });

  test('a retry after a crash between submitting and recording the task finds it by submission id', async () => {
    const first = request();
    await runGlobusTransfer(client, first);
    const tasks = globus.tasks.size;
    const second = request({ previous: { submissionId: first.recorded[0].submissionId } });
    const task = await runGlobusTransfer(client, second);
    assert.equal(task.task_id, first.recorded.at(-1)!.taskId, 'Globus answered Duplicate');
    assert.equal(globus.tasks.size, tasks);
  });

  test('cancelling the workflow cancels the Globus task', async () => {
    globus.faults.hold = true;
    const r = request();
    const controller = new AbortController();
    const run = runGlobusTransfer(client, { ...r, signal: controller.signal });
    await until(() => r.recorded.some((p) => p.taskId), 'the task id');
    controller.abort(new Error('workflow cancelled'));
    await assert.rejects(run, /workflow cancelled/);
    const task = globus.tasks.get(r.recorded.at(-1)!.taskId!)!;
    assert.equal(task.status, 'FAILED');
    assert.equal(task.fatal_error?.code, 'CANCELED');
    assert.ok(globus.requests.includes(`POST /v0.10/task/${task.task_id}/cancel`));
  });

  test('permission denied: the task is cancelled and the error is not retryable', async () => {
    globus.faults.niceStatus = 'PERMISSION_DENIED';
    await assert.rejects(runGlobusTransfer(client, request()), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(
        err.message,
        /PERMISSION_DENIED — Error \(permission_denied\): globus_ftp_client: 550 denied/,
      );
      assert.match(err.message, /task cancelled/);
      return true;
    });
    const last = [...globus.tasks.values()].at(-1)!;
    assert.equal(last.fatal_error?.code, 'CANCELED');
  });

  test('a missing source file is bad input', async () => {
    const r = request({ items: [{ source_path: '/archive/tiktok/gone.tar.xz', destination_path: '/x/y' }] });
    await assert.rejects(
      runGlobusTransfer(client, r),
      (err: unknown) => err instanceof BadInputError && /FILE_NOT_FOUND/.test(err.message),
    );
  });

  test('a paused task fails the attempt retryably; the retry polls the same task', async () => {
    globus.faults.pause = true;
    const r = request();
    await assert.rejects(runGlobusTransfer(client, r), (err: unknown) => {
      assert.ok(err instanceof GlobusTransientError, String(err));
      assert.match(err.message, /paused: PAUSED_BY_ADMIN — Paused by an administrator/);
      return true;
    });
    const task = globus.tasks.get(r.recorded.at(-1)!.taskId!)!;
    assert.equal(task.status, 'ACTIVE');
    const retry = request({ previous: r.recorded.at(-1) });
    await assert.rejects(runGlobusTransfer(client, retry), GlobusTransientError);
    assert.equal(retry.recorded.at(-1)?.taskId, task.task_id, 'same task');
  });

  test('a FAILED task is retryable, and the retry submits a new task', async () => {
    globus.faults.fail = { code: 'DEADLINE_EXCEEDED', description: 'the task deadline passed' };
    const r = request();
    await assert.rejects(
      runGlobusTransfer(client, r),
      (err: unknown) => err instanceof GlobusTransientError && /DEADLINE_EXCEEDED/.test(err.message),
    );
    const failed = r.recorded.at(-1)!.taskId!;
    const task = await runGlobusTransfer(client, request({ previous: r.recorded.at(-1) }));
    assert.notEqual(task.task_id, failed);
    assert.equal(task.status, 'SUCCEEDED');
  });

  test('Globus unavailable (503) is retryable', async () => {
    globus.faults.unavailable = 1;
    await assert.rejects(
      runGlobusTransfer(client, request()),
      (err: unknown) => err instanceof GlobusTransientError && /ServiceUnavailable/.test(err.message),
    );
  });

  test('an unknown destination collection is a ConfigError naming the setting', async () => {
    await assert.rejects(
      runGlobusTransfer(client, request({ destinationEndpoint: '00000000-0000-4000-8000-000000000000' })),
      (err: unknown) => err instanceof ConfigError && /GLOBUS_DEST_ENDPOINT/.test(err.message),
    );
  });
});

describe('Globus credentials', () => {
  test('a wrong secret is a ConfigError that names the settings', async () => {
    const bad = new GlobusClient({ clientId: globus.clientId, clientSecret: () => 'wrong' });
    await assert.rejects(bad.submissionId(), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, /refused the client credentials \(invalid_client\)/);
      assert.doesNotMatch(err.message, /wrong/);
      return true;
    });
  });

  test('a token is reused until close to expiry, then exchanged again', async () => {
    const fresh = new GlobusClient({ clientId: globus.clientId, clientSecret: () => globus.clientSecret });
    const issued = globus.tokensIssued;
    await fresh.submissionId();
    await fresh.submissionId();
    assert.equal(globus.tokensIssued, issued + 1);
    globus.tokenLifetimeS = 120; // under the 5-minute margin: every call exchanges again
    try {
      const short = new GlobusClient({ clientId: globus.clientId, clientSecret: () => globus.clientSecret });
      await short.submissionId();
      await short.submissionId();
      assert.equal(globus.tokensIssued, issued + 3);
    } finally {
      globus.tokenLifetimeS = 172_800;
    }
  });
});
