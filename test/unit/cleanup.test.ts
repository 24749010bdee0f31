/**
 * Cleanup with UPLOAD=off keeps what the settings promise — the stored clips' Opus files and the
 * manifest listing them — and removes everything else from the archive's staging folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCleanup } from '../../activities/cleanup.ts';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import type { ClipRecord } from '../../lib/manifest.ts';
import { ArchiveStaging } from '../../lib/staging.ts';

const ref = { date: '2024-02-03', archive: '2024-02-03_00-00' };

test('UPLOAD=off: cleanup keeps the stored clips and the manifest, removes the rest', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'audio-pipeline-cleanup-'));
  const config = loadConfig({ DATA_DIR: dataDir, UPLOAD: 'off', LOG_LEVEL: 'silent' });
  const staging = new ArchiveStaging(config.stagingDir, ref.date, ref.archive);
  await mkdir(path.join(staging.extractDir, 'audio'), { recursive: true });
  await mkdir(staging.opusDir, { recursive: true });
  const clip = (id: string, status: ClipRecord['status']): ClipRecord => ({
    ...ref,
    id,
    sourceName: `${id}.mp3`,
    status,
    error: status === 'failed' ? 'transcribe: boom' : null,
    mp3Path: path.join(staging.extractDir, 'audio', `${id}.mp3`),
    mp3Bytes: 1,
    opusPath: staging.opusPath(id),
    opusBytes: 1,
    storageUri: null,
    durationS: 1,
    sha256: null,
    hasMetadata: false,
  });
  const clips = [clip('kept1', 'stored'), clip('kept2', 'stored'), clip('failed1', 'failed')];
  for (const c of clips) {
    await writeFile(c.mp3Path!, 'mp3');
    await writeFile(c.opusPath!, 'opus');
  }
  await writeFile(staging.archiveFile, 'xz');
  await writeFile(staging.transcriptsFile, '{}\n');
  await writeFile(`${staging.opusPath('kept3')}.tmp-1-abcdef12`, 'half');
  await writeFile(staging.manifestFile, JSON.stringify({ ...ref, metadataPath: null, refused: [], clips }));

  await new MockActivityEnvironment().run(
    createCleanup({ config, logger: createLogger('test', 'silent') }).cleanupArchive,
    ref,
  );
  assert.deepEqual((await readdir(staging.dir)).sort(), ['manifest.json', 'opus']);
  assert.deepEqual((await readdir(staging.opusDir)).sort(), ['kept1.opus', 'kept2.opus']);
  await rm(dataDir, { recursive: true, force: true });
});
