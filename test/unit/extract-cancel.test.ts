/** Extraction honours cancellation: a cancelled extract stops, kills xz, and leaves no files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { extractArchive } from '../../lib/archive/extract.ts';

const run = promisify(execFile);

test('an extraction cancelled mid-archive stops with the reason and removes what it wrote', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'extract-cancel-'));
  const src = path.join(tmp, 'src');
  await mkdir(src);
  const names = Array.from({ length: 20 }, (_, i) => `clip-${String(i).padStart(2, '0')}.mp3`);
  for (const name of names) await writeFile(path.join(src, name), Buffer.alloc(2 * 1024 * 1024, name));
  const archive = path.join(tmp, 'a.tar.xz');
  await run('tar', ['-C', src, '-cJf', archive, ...names]);

  const dest = path.join(tmp, 'out');
  const cancel = new AbortController();
  let entriesSeen = 0;
  await assert.rejects(
    extractArchive(archive, dest, {
      maxEntryBytes: 64 * 1024 * 1024,
      maxTotalBytes: 1024 * 1024 * 1024,
      signal: cancel.signal,
      onProgress: ({ entries }) => {
        entriesSeen = entries;
        if (entries === 2) cancel.abort(new Error('cancelled: heartbeat timeout'));
      },
    }),
    /cancelled: heartbeat timeout/,
  );
  assert.ok(entriesSeen < names.length, `stopped after ${entriesSeen} of ${names.length} entries`);
  assert.deepEqual(await readdir(dest), [], 'the files it wrote are removed');
  await rm(tmp, { recursive: true, force: true });
});
