/**
 * A retried activity (a worker killed mid-stage) keeps what the previous attempt finished:
 * convert keeps complete Opus files, extract → convert on the same staging gives the same
 * manifest. Runs the real activities in the SDK's activity environment, with real ffmpeg.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createConvert } from '../../activities/convert.ts';
import { createExtract } from '../../activities/extract.ts';
import { stageLocalArchive } from '../../lib/source/local.ts';
import { ArchiveStaging } from '../../lib/staging.ts';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { makeTempDir } from '../support/postgres.ts';

/** One archive extracted into a fresh staging folder, and the activities to run on it. */
async function extractedArchive(seed: number) {
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
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const ctx = { config, logger: createLogger('test', 'silent') };
  const ref = { date: '2024-05-06', archive };
  const staging = new ArchiveStaging(config.stagingDir, ref.date, ref.archive);
  await stageLocalArchive(incoming, archive, staging.archiveFile);
  await new MockActivityEnvironment().run(createExtract(ctx).extractArchive, ref);
  const { convertClips } = createConvert(ctx);
  type ConvertSummary = Awaited<ReturnType<typeof convertClips>>;
  const convert = (attempt: number) =>
    new MockActivityEnvironment({ attempt }).run(convertClips, ref) as Promise<ConvertSummary>;
  return { dataDir, staging, convert };
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
