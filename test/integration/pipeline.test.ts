/**
 * A generated day through the real pipeline: Temporal dev server (TestWorkflowEnvironment with
 * the project's `temporal` CLI), embedded PostgreSQL, ffmpeg and the real Whisper model.
 * Archive 00-00 carries every clip-level defect and hostile tar entries, 00-10 is clean, and
 * 00-20 is a truncated .tar.xz.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { migrate } from '../../db/migrate.ts';
import { exportDate, type ExportRow } from '../../db/queries/export-date.ts';
import { searchTranscripts } from '../../db/queries/search-transcripts.ts';
import { dateStatus } from '../../db/queries/queue.ts';
import { createCpuWorker } from '../../workers/cpu-worker.ts';
import { createGpuWorker } from '../../workers/gpu-worker.ts';
import type { DateSummary } from '../../workflows/contract.ts';
import { generateDay, type Truth } from '../../lib/sample-day/generate.ts';
import { createLocalTestEnvironment } from '../support/temporal.ts';
import { makeTempDir, startEmbeddedTestPostgres } from '../support/postgres.ts';

const DATE = '2024-03-05';
const CPU_QUEUE = 'test-pipeline-cpu';
const GPU_QUEUE = 'test-pipeline-gpu';

describe('a generated day end to end', { timeout: 20 * 60_000 }, () => {
  let env: TestWorkflowEnvironment;
  let pg: Awaited<ReturnType<typeof startEmbeddedTestPostgres>>;
  let workers: Worker[] = [];
  let running: Promise<void>[] = [];
  let closeGpu: () => Promise<void>;
  let truth: Truth;
  let config: ReturnType<typeof loadConfig>;
  let first: DateSummary;
  let firstExport: ExportRow[];

  const runDate = () =>
    env.client.workflow.execute('processDate', {
      taskQueue: CPU_QUEUE,
      workflowId: `process-date-${DATE}`,
      args: [{ date: DATE, gpuTaskQueue: GPU_QUEUE }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    }) as Promise<DateSummary>;
  const exportAll = async () => {
    const rows: ExportRow[] = [];
    for await (const row of exportDate(pg.opened.db, DATE)) rows.push(row);
    return rows.sort((a, b) => a.id.localeCompare(b.id));
  };

  before(async () => {
    const dataDir = await makeTempDir('audio-pipeline-e2e-');
    const incoming = path.join(dataDir, 'incoming');
    const day = await generateDay({
      date: DATE,
      archives: 3,
      clipsPerArchive: 4,
      outDir: incoming,
      seed: 11,
      defects: {
        corruptMp3: true,
        emptyMp3: true,
        rowWithoutClip: true,
        clipWithoutRow: true,
        unsafeEntries: true,
        truncatedArchive: true,
      },
    });
    truth = day.truth;
    [env, pg] = await Promise.all([createLocalTestEnvironment(), startEmbeddedTestPostgres()]);
    await migrate(pg.opened.db);
    config = loadConfig({
      DATA_DIR: dataDir,
      DATABASE_URL: pg.url,
      SOURCE: `local:${incoming}`,
      WHISPER_MODEL: 'base',
      WHISPER_MODEL_CACHE: process.env.WHISPER_MODEL_CACHE,
      LOG_LEVEL: 'warn',
    });
    const logger = createLogger('test', 'warn');
    const cpu = await createCpuWorker({
      config,
      logger,
      db: pg.opened.db,
      connection: env.nativeConnection,
      taskQueue: CPU_QUEUE,
    });
    const gpu = await createGpuWorker({
      config,
      logger,
      connection: env.nativeConnection,
      taskQueue: GPU_QUEUE,
    });
    closeGpu = gpu.close;
    workers = [cpu, gpu.worker];
    running = workers.map((w) => w.run());
    first = await runDate();
    firstExport = await exportAll();
  });

  after(async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await closeGpu?.();
    await env?.teardown();
    await pg?.close();
  });

  test('the date completes with errors: the truncated archive fails alone with its reason', () => {
    assert.equal(first.status, 'completed_with_errors');
    const byName = Object.fromEntries(first.archives.map((a) => [a.archive, a]));
    assert.equal(byName[`${DATE}_00-20`].status, 'failed');
    assert.match(byName[`${DATE}_00-20`].error ?? '', /truncated|corrupt/i);
    assert.equal(byName[`${DATE}_00-10`].status, 'completed');
    assert.equal(byName[`${DATE}_00-00`].status, 'completed_with_errors');
  });

  test('every clip of the readable archives is accounted for with the right status', () => {
    const expected = Object.values(truth.clips).filter((c) => !c.archive.endsWith('00-20'));
    assert.deepEqual(firstExport.map((r) => r.id).sort(), expected.map((c) => c.id).sort());
    for (const clip of expected) {
      const row = firstExport.find((r) => r.id === clip.id)!;
      if (clip.expect === 'ok') {
        assert.equal(
          row.status,
          'uploaded',
          `${clip.id} (${clip.kind}, ${clip.defect ?? 'no defect'}): ${row.error}`,
        );
        assert.ok(
          row.storage_uri && existsSync(new URL(row.storage_uri)),
          `${clip.id} uploaded to ${row.storage_uri}`,
        );
      } else {
        assert.equal(row.status, 'failed', `${clip.id} (${clip.defect}) should fail`);
      }
    }
  });

  test('each defect is recorded with its reason while the rest of the archive succeeds', () => {
    const rowFor = (defect: string) => {
      const clip = Object.values(truth.clips).find((c) => c.defect === defect)!;
      return firstExport.find((r) => r.id === clip.id)!;
    };
    assert.match(rowFor('corruptMp3').error ?? '', /^convert: /);
    assert.match(rowFor('emptyMp3').error ?? '', /^convert: /);
    assert.equal(rowFor('rowWithoutClip').error, 'no audio');
    assert.equal(rowFor('clipWithoutRow').status, 'uploaded');
  });

  test('hostile tar entries are refused, reported, and written nowhere', async () => {
    const archive = truth.archives[`${DATE}_00-00`];
    const summary = first.archives.find((a) => a.archive === archive.name)!;
    assert.equal(summary.refusedEntries, archive.unsafeEntries.length);
    for (const entry of archive.unsafeEntries)
      assert.ok(summary.error?.includes(entry.entry), `${entry.entry} reported`);
    if (archive.absoluteTarget) assert.equal(existsSync(archive.absoluteTarget), false);
    const names = await readdir(config.dataDir, { recursive: true });
    assert.deepEqual(
      names.filter((n) => /evil/.test(n)),
      [],
    );
    const status = await dateStatus(pg.opened.db, DATE);
    assert.match(status!.archives.find((a) => a.archive === archive.name)!.error ?? '', /refused/);
  });

  test('speech is transcribed and findable; silence and music are not', async () => {
    const speech = Object.values(truth.clips).filter(
      (c) => c.kind === 'speech' && c.expect === 'ok' && !c.archive.endsWith('00-20'),
    );
    assert.ok(speech.length >= 3);
    for (const clip of speech)
      assert.ok(firstExport.find((r) => r.id === clip.id)!.text, `${clip.id} has text`);
    for (const clip of Object.values(truth.clips).filter(
      (c) => (c.kind === 'silence' || c.kind === 'music') && c.expect === 'ok',
    )) {
      const row = firstExport.find((r) => r.id === clip.id);
      if (!row) continue; // in the truncated archive
      assert.equal(row.text, '', `${clip.kind} clip ${clip.id} has no text`);
      assert.equal(row.no_speech, true);
    }
    const english = speech.find((c) => c.language === 'en')!;
    const word = english
      .sentence!.split(/\W+/)
      .sort((a, b) => b.length - a.length)[0]
      .toLowerCase();
    const hits = await searchTranscripts(pg.opened.db, word, { date: DATE });
    assert.ok(
      hits.some((h) => h.id === english.id),
      `search "${word}" finds ${english.id}`,
    );
  });

  test('running the same date again changes nothing', async () => {
    const counts = async () =>
      (
        await pg.opened.pool.query(
          `SELECT (SELECT count(*) FROM audio_files) a, (SELECT count(*) FROM audio_metadata) m, (SELECT count(*) FROM transcripts) t`,
        )
      ).rows[0];
    const before = await counts();
    const second = await runDate();
    assert.deepEqual(second, first);
    assert.deepEqual(await counts(), before);
    assert.deepEqual(await exportAll(), firstExport);
  });
});
