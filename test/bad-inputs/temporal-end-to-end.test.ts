/**
 * One hostile archive end to end through Temporal (issue 7): the real workflows on a Temporal dev
 * server, both workers, PostgreSQL 15, ffmpeg and Whisper tiny.en. Its bad clips fail alone, its
 * good clip is stored and uploaded, its unsafe entries are refused — and the database password
 * (given in DATABASE_URL, as in production) appears in no workflow history and no log line of
 * the whole run, debug level included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import pino from 'pino';
import type { AppDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import * as schema from '../../db/schema.ts';
import { clipKey } from '../../lib/clip-id.ts';
import { loadConfig } from '../../lib/config.ts';
import { writeContractParquet } from '../../lib/sample-day/parquet.ts';
import { createCpuWorker } from '../../workers/cpu-worker.ts';
import { createGpuWorker } from '../../workers/gpu-worker.ts';
import { installTemporalLogging } from '../../workers/runtime-logging.ts';
import type { DateSummary } from '../../workflows/contract.ts';
import { MODEL_CACHE, whisperModelDir } from '../support/whisper-models.ts';
import { makeTempDir, startPostgres15, type TestPostgres } from '../support/postgres.ts';
import { createLocalTestEnvironment } from '../support/temporal.ts';
import { BASE_COLUMNS, makeTar, writeGoodMp3, type TarEntry } from './cases.ts';

const run = promisify(execFile);
const DATE = '2024-03-01';
const ARCHIVE = `${DATE}_00-00`;
const CPU_QUEUE = 'bad-inputs-cpu';
const GPU_QUEUE = 'bad-inputs-gpu';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const GOOD = '7300000000000000001';
const CORRUPT = '7300000000000000002';
const PLAYLIST = '7300000000000000003';
const NUL_ID = '7300000000000000004\u0000x';

/** Every string in a history: field values, and payload bytes decoded as UTF-8. */
function historyText(value: unknown, out: string[] = []): string[] {
  if (value === null || value === undefined) return out;
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) for (const v of value) historyText(v, out);
  else if (typeof value === 'object') for (const v of Object.values(value)) historyText(v, out);
  return out;
}

describe(
  'a hostile archive through Temporal, with a password in DATABASE_URL',
  { timeout: 10 * 60_000 },
  () => {
    let env: TestWorkflowEnvironment;
    let server: TestPostgres;
    let pool: pg.Pool;
    let workers: Worker[] = [];
    let running: Promise<void>[] = [];
    let closeGpu: (() => Promise<void>) | undefined;
    let summary: DateSummary;
    const logLines: string[] = [];

    before(async () => {
      whisperModelDir('tiny.en');
      const root = await makeTempDir('bad-inputs-e2e-');
      const incoming = path.join(root, 'incoming');
      const work = path.join(root, 'work');
      await mkdir(incoming, { recursive: true });
      await mkdir(work, { recursive: true });
      const good = path.join(work, 'good.mp3');
      await writeGoodMp3(good);
      const parquet = path.join(work, 'metadata.parquet');
      await writeContractParquet(
        parquet,
        [
          { id: GOOD, desc: 'good clip' },
          { id: CORRUPT, desc: 'corrupt' },
          { id: PLAYLIST, desc: 'a playlist' },
          { id: NUL_ID, desc: 'NUL in the id', audio_file: 'nul.mp3' },
        ],
        BASE_COLUMNS,
      );
      const entries: TarEntry[] = [
        { name: 'metadata.parquet', source: parquet },
        { name: `audio/${GOOD}.mp3`, source: good },
        { name: `audio/${CORRUPT}.mp3`, text: 'not audio at all '.repeat(300) },
        { name: `audio/${PLAYLIST}.mp3`, text: `#EXTM3U\n#EXTINF:2,\n${GOOD}.mp3\n#EXT-X-ENDLIST\n` },
        { name: 'audio/nul.mp3', source: good },
        { name: '../evil.mp3', source: good },
        { name: 'audio/link.mp3', kind: 'symlink', link: '/etc/passwd' },
      ];
      const plain = path.join(work, 'archive.tar');
      await makeTar(plain, entries);
      await run('sh', [
        '-c',
        'xz -6 -T1 -c "$1" > "$2"',
        'sh',
        plain,
        path.join(incoming, `${ARCHIVE}.tar.xz`),
      ]);

      // Every log line of the run, SDK's included, at debug level.
      const logger = pino(
        { name: 'e2e', level: 'debug' },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            logLines.push(chunk.toString('utf8'));
            done();
          },
        }),
      );
      // The SDK's own lines at INFO: its debug output is a firehose of task tokens.
      installTemporalLogging(logger.child({}, { level: 'info' }));
      [env, server] = await Promise.all([createLocalTestEnvironment(), startPostgres15()]);
      const url = new URL(server.url);
      url.password = PASSWORD; // the test server trusts 127.0.0.1: a password production would need
      pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
      pool.on('error', () => {});
      const db = drizzle({ client: pool, schema }) as AppDatabase;
      await migrate(db);
      const config = loadConfig({
        PATH: process.env.PATH,
        DATA_DIR: path.join(root, 'data'),
        DATABASE_URL: url.toString(),
        SOURCE: `local:${incoming}`,
        WHISPER_MODEL: 'tiny.en',
        WHISPER_MODEL_CACHE: MODEL_CACHE,
        LOG_LEVEL: 'debug',
      });
      const ctx = { config, logger, connection: env.nativeConnection };
      const cpu = await createCpuWorker({ ...ctx, db, taskQueue: CPU_QUEUE });
      const gpu = await createGpuWorker({ ...ctx, taskQueue: GPU_QUEUE });
      closeGpu = gpu.close;
      workers = [cpu, gpu.worker];
      running = workers.map((w) => w.run());
      summary = (await env.client.workflow.execute('processDate', {
        taskQueue: CPU_QUEUE,
        workflowId: `process-date-${DATE}`,
        args: [{ date: DATE, gpuTaskQueue: GPU_QUEUE }],
      })) as DateSummary;
    });

    after(async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
      await closeGpu?.();
      await env?.teardown();
      await pool?.end();
      await server?.close();
    });

    test('the archive completes with errors: bad clips fail alone, the good one is uploaded', async () => {
      assert.equal(summary.status, 'completed_with_errors');
      const [archive] = summary.archives;
      assert.equal(archive.status, 'completed_with_errors');
      assert.equal(archive.refusedEntries, 2);
      const { rows } = await pool.query<{ id: string; status: string; error: string | null }>(
        'SELECT id, status, error FROM audio_files WHERE archive = $1 ORDER BY id',
        [ARCHIVE],
      );
      const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
      assert.deepEqual(Object.keys(byId).sort(), [GOOD, CORRUPT, PLAYLIST, clipKey(NUL_ID)].sort());
      assert.equal(byId[GOOD].status, 'uploaded');
      for (const id of [CORRUPT, PLAYLIST]) {
        assert.equal(byId[id].status, 'failed');
        assert.match(byId[id].error ?? '', /^convert: /);
      }
      assert.match(byId[clipKey(NUL_ID)].error ?? '', /^unsafe id "7300000000000000004\\x00x"/);
    });

    test('the password is in no workflow history and no log line', async () => {
      const histories: string[] = [];
      for (const id of [`process-date-${DATE}`, `process-archive-${ARCHIVE}`]) {
        const history = await env.client.workflow.getHandle(id).fetchHistory();
        histories.push(historyText(history).join('\n'));
      }
      assert.ok(
        histories.every((h) => h.includes(ARCHIVE)),
        'the histories were read',
      );
      for (const stage of ['extract done', 'convert done', 'store done']) {
        assert.ok(
          logLines.some((l) => l.includes(stage)),
          `the logs were captured (${stage}): ${logLines.length} lines`,
        );
      }
      for (const text of [...histories, ...logLines]) {
        assert.ok(
          !text.includes(PASSWORD),
          `the password leaked: …${text.slice(text.indexOf(PASSWORD) - 80, text.indexOf(PASSWORD) + 20)}`,
        );
      }
      const [{ n }] = (
        await pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM audio_files WHERE raw::text LIKE $1',
          [`%${PASSWORD}%`],
        )
      ).rows;
      assert.equal(n, 0);
    });
  },
);
