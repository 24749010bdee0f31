import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSafeClipId } from '../../lib/clip-id.ts';
import { BadInputError, ConfigError } from '../../lib/errors.ts';
import { storagePath, uploadToLocal } from '../../lib/storage/local.ts';
import { parseStorageTarget, uploadToTarget } from '../../lib/storage/target.ts';

let tmp: string;
let a: string;
let b: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'storage-test-'));
  a = path.join(tmp, 'a.opus');
  b = path.join(tmp, 'b.opus');
  await writeFile(a, 'opus-a'.repeat(100));
  await writeFile(b, 'opus-b'.repeat(50));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listTree(full)));
    else out.push(path.relative(tmp, full));
  }
  return out.sort();
}

describe('uploadToLocal', () => {
  test('lays files out as <root>/<YYYY>/<MM>/<DD>/<id>.opus with file:// URIs', async () => {
    const root = path.join(tmp, 'store');
    const result = await uploadToLocal(root, '2024-01-15', [
      { id: '7318273645512907014', path: a },
      { id: '7318273645512907015', path: b },
    ]);
    assert.deepEqual(await listTree(root), [
      'store/2024/01/15/7318273645512907014.opus',
      'store/2024/01/15/7318273645512907015.opus',
    ]);
    assert.deepEqual(
      result.map((r) => r.skipped),
      [false, false],
    );
    assert.equal(
      fileURLToPath(result[0].uri),
      path.join(root, '2024', '01', '15', '7318273645512907014.opus'),
    );
    assert.equal(result[0].bytes, (await stat(a)).size);
    assert.deepEqual(await readFile(fileURLToPath(result[1].uri)), await readFile(b));
  });

  test('is idempotent: an identical copy is skipped and left untouched', async () => {
    const root = path.join(tmp, 'idem');
    const files = [{ id: '1', path: a }];
    const [first] = await uploadToLocal(root, '2024-01-15', files);
    const before1 = await stat(fileURLToPath(first.uri));
    const [second] = await uploadToLocal(root, '2024-01-15', files);
    assert.equal(second.skipped, true);
    assert.equal(second.uri, first.uri);
    assert.equal((await stat(fileURLToPath(second.uri))).mtimeMs, before1.mtimeMs);
    assert.deepEqual(await listTree(root), ['idem/2024/01/15/1.opus'], 'no temp files');
  });

  test('a destination with the same size but other content is replaced', async () => {
    const root = path.join(tmp, 'replace');
    const [first] = await uploadToLocal(root, '2024-01-15', [{ id: '9', path: a }]);
    const dest = fileURLToPath(first.uri);
    await writeFile(dest, 'X'.repeat((await stat(a)).size));
    const [again] = await uploadToLocal(root, '2024-01-15', [{ id: '9', path: a }]);
    assert.equal(again.skipped, false);
    assert.deepEqual(await readFile(dest), await readFile(a));
  });

  test('a known sha256 spares hashing the source; a wrong one forces a copy', async () => {
    const root = path.join(tmp, 'sha');
    await uploadToLocal(root, '2024-01-15', [{ id: '5', path: a }]);
    const [wrong] = await uploadToLocal(root, '2024-01-15', [{ id: '5', path: a, sha256: '0'.repeat(64) }]);
    assert.equal(wrong.skipped, false);
  });

  test('unsafe ids, bad dates and missing files are BadInputError', async () => {
    for (const id of ['../x', 'a/b', '', '.hidden', 'x y']) {
      await assert.rejects(
        uploadToLocal(path.join(tmp, 'bad'), '2024-01-15', [{ id, path: a }]),
        BadInputError,
        id,
      );
    }
    for (const date of ['2024-02-30', '15-01-2024', '2024-1-5']) {
      await assert.rejects(
        uploadToLocal(path.join(tmp, 'bad'), date, [{ id: '1', path: a }]),
        BadInputError,
        date,
      );
    }
    await assert.rejects(
      uploadToLocal(path.join(tmp, 'bad'), '2024-01-15', [{ id: '1', path: path.join(tmp, 'nope.opus') }]),
      BadInputError,
    );
    assert.equal(storagePath('/r', '2024-12-31', '42'), '/r/2024/12/31/42.opus');
  });
});

describe('parseStorageTarget', () => {
  test('user@host:/path and host:/path are rsync targets', () => {
    assert.deepEqual(parseStorageTarget('archiver@storage.example.org:/data/opus'), {
      kind: 'rsync',
      user: 'archiver',
      host: 'storage.example.org',
      path: '/data/opus',
      spec: 'archiver@storage.example.org:/data/opus',
    });
    assert.deepEqual(parseStorageTarget('nas:backup/opus'), {
      kind: 'rsync',
      user: null,
      host: 'nas',
      path: 'backup/opus',
      spec: 'nas:backup/opus',
    });
  });

  test('paths and file:// URLs are local', () => {
    assert.deepEqual(parseStorageTarget('/srv/opus'), { kind: 'local', path: '/srv/opus' });
    assert.deepEqual(parseStorageTarget('./data/storage'), {
      kind: 'local',
      path: path.resolve('data/storage'),
    });
    assert.deepEqual(parseStorageTarget('./odd:name'), { kind: 'local', path: path.resolve('odd:name') });
    assert.deepEqual(parseStorageTarget('file:///srv/opus'), { kind: 'local', path: '/srv/opus' });
  });

  test('malformed targets are ConfigError', () => {
    for (const bad of ['', 'user@host:', 'rsync://host/module'])
      assert.throws(() => parseStorageTarget(bad), ConfigError, bad);
  });

  test("a remote path that climbs out of its root ('..') is refused", () => {
    for (const bad of ['u@h:/data/../etc', 'h:../x', 'h:/a/..'])
      assert.throws(() => parseStorageTarget(bad), /may not contain '\.\.'/, bad);
  });

  test('uploading to a local target uses the local layout', async () => {
    const root = path.join(tmp, 'via-target');
    const [r] = await uploadToTarget({ kind: 'local', path: root }, '2024-01-15', [{ id: '3', path: b }]);
    assert.equal(fileURLToPath(r.uri), path.join(root, '2024', '01', '15', '3.opus'));
  });
});

describe('isSafeClipId', () => {
  test('a plain token is safe; paths, dots, spaces and empty ids are not', () => {
    for (const id of ['7301234567890123456', 'abc_DEF-9', 'A']) assert.equal(isSafeClipId(id), true, id);
    for (const id of [
      '',
      '.',
      '..',
      '../x',
      'a/b',
      'a\\b',
      '.hidden',
      '-x',
      '_x',
      'x y',
      'a.b',
      'é',
      'x\n',
    ]) {
      assert.equal(isSafeClipId(id), false, JSON.stringify(id));
    }
  });
});
