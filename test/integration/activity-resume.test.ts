/**
 * A retried activity (a worker killed mid-stage) keeps what the previous attempt finished:
 * convert keeps complete Opus files, extract → convert on the same staging gives the same
 * manifest; transcribe resumes from its partial file (dropping a torn line and lines of another
 * model); a clip that keeps failing for a machine reason is retried, then failed alone. Runs the
 * real activities in the SDK's activity environment, with real ffmpeg and the real tiny.en model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createConvert } from '../../activities/convert.ts';
import { createExtract } from '../../activities/extract.ts';
import { createTranscribe } from '../../activities/transcribe.ts';
import { stageLocalArchive } from '../../lib/source/local.ts';
import { ArchiveStaging } from '../../lib/staging.ts';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import type { TranscriptLine, TranscriptRecord } from '../../lib/manifest.ts';
import { wordErrorRate } from '../../lib/whisper/wer.ts';
import { WhisperEngine } from '../../lib/whisper/transcribe.ts';
import { makeTempDir } from '../support/postgres.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

/** One archive extracted into a fresh staging folder, and the activities to run on it. */
async function extractedArchive(seed: number, settings: Record<string, string> = {}) {
  const dataDir = await makeTempDir('audio-pipeline-resume-');
  const incoming = path.join(dataDir, 'incoming');
  const day = await generateDay({
    date: '2024-05-06',
    archives: 1,
    clipsPerArchive: 4,
    outDir: incoming,
    seed,
  });
  const archive = day.archives[0]
    .replace(/\.tar\.xz$/, '')
    .split('/')
    .pop()!;
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...settings });
  const ctx = { config, logger: createLogger('test', 'silent') };
  const ref = { date: '2024-05-06', archive };
  const staging = new ArchiveStaging(config.stagingDir, ref.date, ref.archive);
  await stageLocalArchive(incoming, archive, staging.archiveFile);
  await new MockActivityEnvironment().run(createExtract(ctx).extractArchive, ref);
  const { convertClips } = createConvert(ctx);
  type ConvertSummary = Awaited<ReturnType<typeof convertClips>>;
  const convert = (attempt: number) =>
    new MockActivityEnvironment({ attempt }).run(convertClips, ref) as Promise<ConvertSummary>;
  return { dataDir, staging, convert, ctx, ref, truth: day.truth };
}

test('a retried convert keeps the Opus files the first attempt finished', { timeout: 120_000 }, async () => {
  const { dataDir, staging, convert } = await extractedArchive(3);
  assert.deepEqual(await convert(1), { converted: 4, failed: 0, resumed: 0 });
  const manifest = await staging.readManifest();

  // The retry finds three finished files: one clip had not been converted when the worker died.
  const lost = manifest.clips[0];
  await rm(staging.opusPath(lost.id));
  assert.deepEqual(await convert(2), { converted: 4, failed: 0, resumed: 3 });
  assert.deepEqual(
    (await staging.readManifest()).clips,
    manifest.clips,
    'same sizes, durations and sha256 as the first attempt',
  );
  await rm(dataDir, { recursive: true, force: true });
});

test(
  'a torn manifest.json is rebuilt from the staging folder, not a failed archive',
  { timeout: 120_000 },
  async () => {
    const { dataDir, staging, convert } = await extractedArchive(4);
    assert.deepEqual(await convert(1), { converted: 4, failed: 0, resumed: 0 });
    const manifest = await staging.readManifest();

    // A power loss before the manifest reached the disk: half of it (or nothing) is left.
    const text = await readFile(staging.manifestFile, 'utf8');
    await writeFile(staging.manifestFile, text.slice(0, text.length / 2));
    assert.deepEqual(await convert(2), { converted: 4, failed: 0, resumed: 4 });
    assert.deepEqual((await staging.readManifest()).clips, manifest.clips);

    await writeFile(staging.manifestFile, '');
    assert.deepEqual((await staging.readManifest()).clips, manifest.clips);
    await rm(dataDir, { recursive: true, force: true });
  },
);

test(
  'a clip that fails for a machine reason is retried, then failed alone on the last tries',
  { timeout: 120_000 },
  async () => {
    // ffmpeg as installed, except that converting one clip meets a full disk (ENOSPC's message,
    // exit 1) — the fault, not the converter, is simulated. The clip is chosen by id below.
    const dataDir = await makeTempDir('audio-pipeline-enospc-');
    const wrapper = path.join(dataDir, 'ffmpeg-disk-full');
    const {
      dataDir: stagingRoot,
      staging,
      convert,
      truth,
    } = await extractedArchive(5, { FFMPEG_PATH: wrapper });
    const unlucky = Object.values(truth.clips).find((c) => c.kind === 'speech')!.id;
    await writeFile(
      wrapper,
      [
        '#!/bin/sh',
        `case "$*" in *${unlucky}.mp3*) echo "Error writing trailer: No space left on device" >&2; exit 1;; esac`,
        `exec ${JSON.stringify(loadConfig({}).ffmpegPath)} "$@"`,
        '',
      ].join('\n'),
    );
    await chmod(wrapper, 0o755);

    // Attempts 1 and 2: the activity fails (Temporal retries it); the other clips are kept.
    for (const attempt of [1, 2]) {
      await assert.rejects(
        convert(attempt),
        /1 clip\(s\) could not be converted for a reason worth retrying: .*No space left/,
      );
      const clips = (await staging.readManifest()).clips;
      assert.equal(clips.find((c) => c.id === unlucky)!.status, 'pending', `attempt ${attempt}`);
      assert.deepEqual(
        clips.filter((c) => c.id !== unlucky).map((c) => c.status),
        ['converted', 'converted', 'converted'],
      );
    }
    // Attempt 3 (of 5): the clip fails alone with its reason; the archive goes on.
    assert.deepEqual(await convert(3), { converted: 3, failed: 1, resumed: 3 });
    const failed = (await staging.readManifest()).clips.find((c) => c.id === unlucky)!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /^convert: .*No space left on device/);
    await rm(stagingRoot, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  },
);

test(
  "a retried transcribe keeps finished lines of the same model, redoes a torn line and another model's",
  { timeout: 300_000 },
  async () => {
    const { dataDir, staging, convert, ctx, ref, truth } = await extractedArchive(6, {
      WHISPER_BATCH_SIZE: '4',
    });
    assert.deepEqual(await convert(1), { converted: 4, failed: 0, resumed: 0 });
    const clips = Object.values(truth.clips);
    const kept = clips.find((c) => c.language === 'de')!; // finished by the killed attempt
    const otherModel = clips.find((c) => c.language === 'en')!; // finished, but by 'base'
    const torn = clips.find((c) => c.kind === 'music')!; // half written when the worker died
    const line = (id: string, model: string, text: string): TranscriptLine => ({
      id,
      model,
      language: 'de',
      language_prob: 0.9,
      text,
      no_speech: false,
      duration_s: 3,
      segments: [],
    });
    const keptLine = line(kept.id, 'tiny.en', 'written by the attempt that died');
    await writeFile(
      `${staging.transcriptsFile}.partial-1-0badf00d`,
      JSON.stringify(keptLine) +
        '\n' +
        JSON.stringify(line(otherModel.id, 'base', 'written with another model')) +
        '\n' +
        JSON.stringify(line(torn.id, 'tiny.en', 'cut off')).slice(0, 40),
    );

    let engine: Promise<WhisperEngine> | undefined;
    const { transcribeClips } = createTranscribe({
      ...ctx,
      modelName: 'tiny.en',
      engine: () =>
        (engine ??= WhisperEngine.load({
          modelDir: whisperModelDir('tiny.en'),
          device: 'cpu',
          threads: 2,
          batchSize: 4,
        })),
    });
    try {
      const summary = (await new MockActivityEnvironment({ attempt: 2 }).run(
        transcribeClips,
        ref,
      )) as Awaited<ReturnType<typeof transcribeClips>>;
      assert.deepEqual([summary.transcribed, summary.failed, summary.resumed], [4, 0, 1]);
    } finally {
      await (await engine)?.close();
    }
    const text = await readFile(staging.transcriptsFile, 'utf8');
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as TranscriptRecord);
    assert.deepEqual(lines.map((l) => l.id).sort(), clips.map((c) => c.id).sort(), 'one line per clip');
    assert.deepEqual(
      lines.find((l) => l.id === kept.id),
      keptLine,
      'the finished line is kept as it was',
    );
    for (const l of lines) assert.equal(l.model, 'tiny.en', l.id);
    const redone = lines.find((l) => l.id === otherModel.id)!;
    assert.ok(
      wordErrorRate(otherModel.sentence!, redone.text) <= 0.5,
      `"${redone.text}" for "${otherModel.sentence}"`,
    );
    assert.notEqual(lines.find((l) => l.id === torn.id)!.text, 'cut off', 'the torn clip transcribed again');
    assert.deepEqual(
      (await readdir(staging.dir)).filter((n) => n.includes('.partial')),
      [],
      'no partial file left',
    );
    await rm(dataDir, { recursive: true, force: true });
  },
);
