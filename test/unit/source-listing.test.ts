import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { listLocalArchives } from '../../lib/source/local.ts';

test('misnamed files of the date are reported as ignored, not dropped silently', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'source-listing-'));
  try {
    for (const name of [
      '2024-02-29_00-10.tar.xz',
      '2024-02-29_7-5.tar.xz',
      '2024-02-29_00-20.tar.gz',
      '2024-03-01_00-00.tar.xz',
    ]) {
      await writeFile(path.join(dir, name), 'x');
    }
    await mkdir(path.join(dir, '2024-02-29_00-30.tar.xz')); // a folder, not an archive
    const ignored: string[] = [];
    const archives = await listLocalArchives(dir, '2024-02-29', ignored);
    assert.deepEqual(
      archives.map((a) => a.name),
      ['2024-02-29_00-10'],
    );
    assert.deepEqual(ignored, [
      '2024-02-29_00-20.tar.gz',
      '2024-02-29_00-30.tar.xz',
      '2024-02-29_7-5.tar.xz',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
