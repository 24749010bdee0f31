/**
 * The staging folder's formats and their safety rules (lib/staging.ts, lib/atomic-file.ts):
 * fenced manifest writes, the transcripts resume protocol, durable renames, and leftovers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { replaceAtomically } from '../../lib/atomic-file.ts';
import { uploadToLocal } from '../../lib/storage/local.ts';
import type { ArchiveManifest, TranscriptLine } from '../../lib/manifest.ts';
import { ArchiveStaging, SupersededError, type StageAttempt } from '../../lib/staging.ts';

const DATE = '2024-01-02';
const ARCHIVE = '2024-01-02_00-00';

async function tempStaging(): Promise<{ root: string; staging: ArchiveStaging }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'audio-pipeline-staging-'));
  const staging = new ArchiveStaging(root, DATE, ARCHIVE);
  await mkdir(staging.dir, { recursive: true }); // as transfer leaves it
  return { root, staging };
}

function manifest(note: string): ArchiveManifest {
  return { date: DATE, archive: ARCHIVE, metadataPath: note, refused: [], clips: [] };
}

const at = (stage: StageAttempt['stage'], attempt: number, run = 'run-1'): StageAttempt => ({
  run,
  stage,
  attempt,
});

test('a manifest write by an older attempt, or an earlier stage, is refused', async () => {
  const { root, staging } = await tempStaging();
  await staging.writeManifest(manifest('convert 2'), at('convert', 2));
  // Attempt 1 timed out but still runs: it must not overwrite what its retry wrote.
  await assert.rejects(staging.writeManifest(manifest('convert 1'), at('convert', 1)), SupersededError);
  assert.equal((await staging.readManifest()).metadataPath, 'convert 2');

  await staging.writeManifest(manifest('store 1'), at('store', 1));
  await assert.rejects(staging.writeManifest(manifest('convert 3'), at('convert', 3)), SupersededError);
  assert.equal((await staging.readManifest()).metadataPath, 'store 1');

  // A new run of the archive starts afresh.
  await staging.writeManifest(manifest('run 2'), at('extract', 1, 'run-2'));
  assert.equal((await staging.readManifest()).metadataPath, 'run 2');
  await rm(root, { recursive: true, force: true });
});

test('an attempt that outlived cleanup does not create the staging folder again', async () => {
  const { root, staging } = await tempStaging();
  await staging.writeManifest(manifest('converted'), at('convert', 1));
  await rm(staging.dir, { recursive: true });
  await assert.rejects(staging.writeManifest(manifest('stale'), at('convert', 1)), /is gone/);
  assert.equal(fs.existsSync(staging.dir), false);
  await rm(root, { recursive: true, force: true });
});

test('a cancelled attempt writes nothing', async () => {
  const { root, staging } = await tempStaging();
  await staging.writeManifest(manifest('before'), at('convert', 1));
  const cancelled = new AbortController();
  cancelled.abort(new Error('cancelled: heartbeat timeout'));
  await assert.rejects(
    staging.writeManifest(manifest('after'), { ...at('convert', 2), signal: cancelled.signal }),
    /heartbeat timeout/,
  );
  assert.equal((await staging.readManifest()).metadataPath, 'before');
  assert.deepEqual(
    (await readdir(staging.dir)).filter((n) => n.includes('.tmp-')),
    [],
    'no temp file left',
  );
  await rm(root, { recursive: true, force: true });
});

test('a timed-out transcribe attempt cannot publish over its retry, and nothing is transcribed twice', async () => {
  const { root, staging } = await tempStaging();
  const line = (id: string): TranscriptLine => ({
    id,
    model: 'tiny.en',
    language: 'en',
    language_prob: 1,
    text: `text of ${id}`,
    no_speech: false,
    duration_s: 1,
    segments: [],
  });
  await staging.writeManifest(manifest('extracted'), at('convert', 1));

  await staging.beginAttempt(at('transcribe', 1));
  const first = staging.transcripts(at('transcribe', 1), 'tiny.en');
  assert.deepEqual([...(await first.resume())], []);
  await first.append([line('a'), line('b')]);

  // Attempt 1 times out (it does not know yet); attempt 2 starts from what it finished.
  await staging.beginAttempt(at('transcribe', 2));
  const second = staging.transcripts(at('transcribe', 2), 'tiny.en');
  assert.deepEqual([...(await second.resume())].sort(), ['a', 'b']);
  await first.append([line('c')]); // the stale attempt goes on…
  await assert.rejects(first.complete(), SupersededError); // …but cannot publish
  await assert.rejects(readFile(staging.transcriptsFile), { code: 'ENOENT' });

  await second.append([line('c'), line('d')]);
  const lines = await second.complete();
  assert.deepEqual(
    lines.map((l) => l.id),
    ['a', 'b', 'c', 'd'],
  );
  assert.deepEqual(
    (await readdir(staging.dir)).filter((n) => n.includes('partial')),
    [],
    'partial files removed once published',
  );
  await rm(root, { recursive: true, force: true });
});

test('a torn last line of a partial file is dropped on resume; other models are not reused', async () => {
  const { root, staging } = await tempStaging();
  await staging.writeManifest(manifest('x'), at('convert', 1));
  const good = { id: 'a', model: 'tiny.en', language: 'en', language_prob: 1, text: 'a' };
  const other = { ...good, id: 'b', model: 'base' };
  await writeFile(
    `${staging.transcriptsFile}.partial-1-deadbeef`,
    `${JSON.stringify({ ...good, no_speech: false, duration_s: 1, segments: [] })}\n${JSON.stringify(other)}\n{"id":"c","mo`,
  );
  const journal = staging.transcripts(at('transcribe', 2), 'tiny.en');
  assert.deepEqual([...(await journal.resume())], ['a']);
  await rm(root, { recursive: true, force: true });
});

test('an attempt starts by removing the temp files killed attempts left', async () => {
  const { root, staging } = await tempStaging();
  await staging.writeManifest(manifest('x'), at('convert', 1));
  fs.mkdirSync(staging.opusDir, { recursive: true });
  const leftovers = [
    path.join(staging.opusDir, 'v1.opus.tmp-123-abcd1234'),
    path.join(staging.dir, 'manifest.json.tmp-9-00ff00ff'),
  ];
  for (const f of leftovers) await writeFile(f, 'half');
  await writeFile(staging.opusPath('v2'), 'a finished file');
  await staging.beginAttempt(at('convert', 2));
  for (const f of leftovers) assert.equal(fs.existsSync(f), false, `${f} removed`);
  assert.equal(fs.existsSync(staging.opusPath('v2')), true, 'finished files stay');
  await rm(root, { recursive: true, force: true });
});

test('a replaced or uploaded file is flushed to disk before its rename, and the folder after it', async (t) => {
  const { root } = await tempStaging();
  const events: string[] = [];
  const promises = fs.promises;
  const realOpen = promises.open;
  const realRename = promises.rename;
  // Records fsync calls by path and renames, through the same module the code imports.
  promises.open = (async (file: fs.PathLike, ...rest: unknown[]) => {
    const handle = await (realOpen as (...a: unknown[]) => Promise<fs.promises.FileHandle>)(file, ...rest);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      events.push(`fsync ${path.relative(root, String(file)).replace(/\.tmp-.*/, '.tmp')}`);
      return sync();
    };
    return handle;
  }) as typeof promises.open;
  promises.rename = (async (from: fs.PathLike, to: fs.PathLike) => {
    events.push(`rename ${path.relative(root, String(to))}`);
    return realRename(from, to);
  }) as typeof promises.rename;
  syncBuiltinESMExports();
  t.after(() => {
    promises.open = realOpen;
    promises.rename = realRename;
    syncBuiltinESMExports();
  });

  await replaceAtomically(path.join(root, 'sub', 'file.opus'), (tmp) => writeFile(tmp, 'audio'));
  assert.deepEqual(events, ['fsync sub/file.opus.tmp', 'rename sub/file.opus', 'fsync sub']);

  // Upload: the copy is on disk when uploadToLocal returns (its rows are marked uploaded next,
  // then staging is deleted) — also when an earlier attempt left an identical copy unflushed.
  const source = path.join(root, 'sub', 'file.opus');
  for (const expected of [
    ['fsync storage/2024/01/02/v1.opus.tmp', 'rename storage/2024/01/02/v1.opus', 'fsync storage/2024/01/02'],
    ['fsync storage/2024/01/02/v1.opus', 'fsync storage/2024/01/02'],
  ]) {
    events.length = 0;
    await uploadToLocal(path.join(root, 'storage'), DATE, [{ id: 'v1', path: source }]);
    assert.deepEqual(events, expected);
  }
  await rm(root, { recursive: true, force: true });
});
