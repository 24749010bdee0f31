/**
 * A generated day through the real pipeline: Temporal dev server (TestWorkflowEnvironment with
 * the project's `temporal` CLI), embedded PostgreSQL, ffmpeg and the real Whisper model.
 * Archive 00-00 carries every clip-level defect and hostile tar entries, 00-10 is clean, and
 * 00-20 is a truncated .tar.xz. A second date runs on a worker with UPLOAD=off.
 *
 * Shared setup (`before`): both dates run once; every test reads their results, and only the
 * last one (running DATE again) runs anything more.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Config } from '../../lib/config.ts';
import { exportDate, type ExportRow } from '../../db/queries/export-date.ts';
import { searchTranscripts } from '../../db/queries/search-transcripts.ts';
import { dateStatus } from '../../db/queries/queue.ts';
import { wordErrorRate } from '../../lib/whisper/wer.ts';
import type { DateSummary } from '../../workflows/contract.ts';
import { generateDay, type Truth } from '../../lib/sample-day/generate.ts';
import { makeTempDir } from '../support/postgres.ts';
import { startTestPipeline, type TestPipeline } from '../support/test-pipeline.ts';

const DATE = '2024-03-05';
/** One clean archive, processed by a worker with UPLOAD=off. */
const NO_UPLOAD_DATE = '2024-03-06';
const CPU_QUEUE = 'test-pipeline-cpu';
const NO_UPLOAD_QUEUE = 'test-pipeline-cpu-no-upload';
const GPU_QUEUE = 'test-pipeline-gpu';
/**
 * Highest WER of one fixture clip's transcript against its own sentence (espeak-ng, 4–9 words,
 * the base model). A transcript attached to another clip scores ~1 against it; the test also
 * checks that each transcript is closer to its own sentence than to any other clip's.
 */
const MAX_CLIP_WER = 0.5;

describe('a generated day end to end', { timeout: 20 * 60_000 }, () => {
  let pipeline: TestPipeline;
  let env: TestWorkflowEnvironment;
  let pg: TestPipeline['pg'];
  let truth: Truth;
  let config: Config;
  let first: DateSummary;
  let firstExport: ExportRow[];
  let noUpload: DateSummary;
  let noUploadTruth: Truth;
  let storageRoot: string;

  const runDate = (date = DATE, taskQueue = CPU_QUEUE) =>
    env.client.workflow.execute('processDate', {
      taskQueue,
      workflowId: `process-date-${date}`,
      args: [{ date, gpuTaskQueue: GPU_QUEUE }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    }) as Promise<DateSummary>;
  const exportAll = async (date = DATE) => {
    const rows: ExportRow[] = [];
    for await (const row of exportDate(pg.opened.db, date)) rows.push(row);
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
    noUploadTruth = (
      await generateDay({ date: NO_UPLOAD_DATE, archives: 1, clipsPerArchive: 2, outDir: incoming, seed: 12 })
    ).truth;
    pipeline = await startTestPipeline({ dataDir, incoming, settings: { WHISPER_MODEL: 'base' } });
    ({ env, pg, config } = pipeline);
    await pipeline.cpuWorker(CPU_QUEUE);
    await pipeline.cpuWorker(NO_UPLOAD_QUEUE, { ...config, upload: false });
    await pipeline.gpuWorker(GPU_QUEUE);
    pipeline.runWorkers();
    storageRoot = config.storageTarget.path;
    [first, noUpload] = await Promise.all([runDate(), runDate(NO_UPLOAD_DATE, NO_UPLOAD_QUEUE)]);
    firstExport = await exportAll();
  });

  after(async () => {
    await pipeline?.close();
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

  test('each speech clip carries its own words and language', (t) => {
    const speech = Object.values(truth.clips).filter(
      (c) => c.kind === 'speech' && c.expect === 'ok' && !c.archive.endsWith('00-20'),
    );
    const textOf = (id: string) => firstExport.find((r) => r.id === id)!.text ?? '';
    const report: string[] = [];
    for (const clip of speech) {
      const row = firstExport.find((r) => r.id === clip.id)!;
      const own = wordErrorRate(clip.sentence!, textOf(clip.id));
      report.push(`${clip.language} ${own.toFixed(2)}`);
      assert.equal(row.language, clip.language, `${clip.id}: detected ${row.language} for "${row.text}"`);
      assert.ok(
        own <= MAX_CLIP_WER,
        `${clip.id}: WER ${own.toFixed(2)}: "${row.text}" for "${clip.sentence}"`,
      );
      for (const other of speech.filter((o) => o.sentence !== clip.sentence)) {
        const theirs = wordErrorRate(other.sentence!, textOf(clip.id));
        assert.ok(
          own < theirs,
          `${clip.id}'s text "${row.text}" is closer to ${other.id}'s "${other.sentence}"`,
        );
      }
    }
    t.diagnostic(`per-clip WER (bound ${MAX_CLIP_WER}): ${report.join(', ')}`);
  });

  test('staging is removed once an archive is stored and uploaded', () => {
    const stagingDate = path.join(config.stagingDir, DATE);
    const left = existsSync(stagingDate) ? readdirSync(stagingDate) : [];
    // Only the archive that could not be read keeps its staging folder (for a retry).
    assert.deepEqual(left, [`${DATE}_00-20`]);
    for (const row of firstExport.filter((r) => r.status === 'uploaded'))
      assert.ok(!existsSync(row.opus_path!), `${row.opus_path} removed from staging`);
  });

  test('UPLOAD=off: clips stored, not uploaded; their Opus files and manifest stay in staging', async () => {
    assert.equal(noUpload.status, 'completed', JSON.stringify(noUpload));
    const rows = await exportAll(NO_UPLOAD_DATE);
    assert.deepEqual(
      rows.map((r) => r.id),
      Object.keys(noUploadTruth.clips).sort(),
    );
    for (const row of rows) {
      assert.equal(row.status, 'stored', row.id);
      assert.equal(row.storage_uri, null);
      assert.ok(row.opus_path && existsSync(row.opus_path), `${row.opus_path} kept`);
    }
    const [archive] = Object.keys(noUploadTruth.archives);
    const kept = readdirSync(path.join(config.stagingDir, NO_UPLOAD_DATE, archive!));
    assert.ok(kept.includes('manifest.json') && kept.includes('opus'), `staging holds ${kept}`);
    assert.ok(!kept.includes('extracted') && !kept.includes('archive.tar.xz'), `staging holds ${kept}`);
    assert.equal(existsSync(path.join(storageRoot, NO_UPLOAD_DATE.slice(0, 4), '03', '06')), false);
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
