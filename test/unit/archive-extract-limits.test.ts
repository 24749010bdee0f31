/**
 * Hostile archives against the extraction limits (issue 7, items 2 and 6): huge pax names, many
 * refusals, decompression bombs hidden in refused entries or after a tar error, a compressed
 * stream inside the xz. Each case fails without its fix: the report grew with the names, and
 * bytes nobody wrote were decompressed uncounted until xz had drained them all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { extractArchive, MAX_LISTED_REFUSALS } from '../../lib/archive/extract.ts';
import { BadInputError } from '../../lib/errors.ts';

const run = promisify(execFile);
let tmp: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'extract-limits-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** An uncompressed tar written by Python's tarfile from a script over `t` (a TarFile, PAX format). */
async function pythonTar(name: string, body: string, close = true): Promise<string> {
  const file = path.join(tmp, name);
  const script = [
    'import io, sys, tarfile',
    'def add(t, name, data=b"", kind=tarfile.REGTYPE, link=""):',
    '    info = tarfile.TarInfo(name); info.type = kind; info.linkname = link',
    '    info.size = len(data) if kind == tarfile.REGTYPE else 0',
    '    t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)',
    't = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)',
    body,
    close ? 't.close()' : 't.fileobj.close()',
  ].join('\n');
  await run('python3', ['-c', script, file]);
  return file;
}

async function xzFile(plain: string): Promise<Buffer> {
  const { stdout } = await run('xz', ['-0', '-T1', '-c', plain], { encoding: 'buffer', maxBuffer: 1 << 30 });
  return stdout;
}

/**
 * `count` concatenated xz streams of 10 MB of "x" each (xz decodes them as one): 30 KB that
 * decompress to count × 10 MB, about a second per 300 MB here.
 */
async function xzBomb(count: number): Promise<Buffer> {
  const { stdout } = await run('sh', ['-c', "head -c 10000000 /dev/zero | tr '\\0' x | xz -0 -T1"], {
    encoding: 'buffer',
  });
  return Buffer.concat(Array.from({ length: count }, () => stdout));
}

test('huge pax names and hundreds of refusals: a small report, names cut, the first N listed with a count', async () => {
  const plain = await pythonTar(
    'many-refusals.tar',
    [
      'add(t, "huge-link", kind=tarfile.SYMTYPE, link="L" * (1024 * 1024))',
      'for i in range(600): add(t, "link-%d" % i, kind=tarfile.SYMTYPE, link="/" + "a" * 60000)',
      'add(t, "metadata.parquet", b"pq")',
      'add(t, "audio/ok.mp3", b"fine")',
    ].join('\n'),
  );
  const archive = `${plain}.xz`;
  await writeFile(archive, await xzFile(plain));
  const dest = path.join(tmp, 'many-refusals-out');
  const report = await extractArchive(archive, dest, {
    maxEntryBytes: 1e6,
    maxTotalBytes: 1e9,
    maxMetaBytes: 64 * 1024,
  });
  // the 1 MiB pax header is refused (its entry then has only the ustar name), and 601 links
  assert.equal(report.refusedCount, 602);
  assert.equal(report.refused.length, MAX_LISTED_REFUSALS);
  assert.match(
    report.refused[0].reason,
    /ExtendedHeader header of \d+ bytes exceeds the limit of 65536 bytes/,
  );
  assert.ok(
    report.refused.every((r) => r.entry.length < 300 && r.reason.length < 400),
    'names and reasons are cut',
  );
  assert.ok(
    JSON.stringify(report).length < 64 * 1024,
    `report of ${JSON.stringify(report).length} characters`,
  );
  assert.equal(await readFile(path.join(dest, 'audio', 'ok.mp3'), 'utf8'), 'fine');
});

test('bytes of a refused entry count against the archive cap: a small bomb is stopped early', async () => {
  // A header for a 3 GB entry (refused: over maxEntryBytes), then its 3 GB of data.
  const header = path.join(tmp, 'bomb-header.tar');
  await run('python3', [
    '-c',
    'import sys, tarfile\ni = tarfile.TarInfo("audio/big.mp3"); i.size = 3 * 10**9\n' +
      'open(sys.argv[1], "wb").write(i.tobuf(tarfile.PAX_FORMAT))',
    header,
  ]);
  const archive = path.join(tmp, 'refused-bomb.tar.xz');
  await writeFile(archive, Buffer.concat([await xzFile(header), await xzBomb(300)]));
  const started = Date.now();
  await assert.rejects(
    extractArchive(archive, path.join(tmp, 'refused-bomb-out'), { maxEntryBytes: 1e6, maxTotalBytes: 1e8 }),
    (err: unknown) =>
      err instanceof BadInputError && /expands beyond the limit of 100000000 bytes/.test(err.message),
  );
  const ms = Date.now() - started;
  assert.ok(ms < 4000, `stopped after ${ms} ms (draining 3 GB takes about 10 s)`);
});

test('xz is killed at the first tar error, not drained', async () => {
  // A valid entry, then 3 GB of "x": the first block of it is a header with a bad checksum.
  const plain = await pythonTar('then-garbage.tar', 'add(t, "metadata.parquet", b"pq")', false);
  const archive = path.join(tmp, 'then-garbage.tar.xz');
  await writeFile(archive, Buffer.concat([await xzFile(plain), await xzBomb(300)]));
  const started = Date.now();
  await assert.rejects(
    extractArchive(archive, path.join(tmp, 'then-garbage-out'), { maxEntryBytes: 1e6, maxTotalBytes: 1e10 }),
    (err: unknown) => err instanceof BadInputError && /corrupt tar data/.test(err.message),
  );
  const ms = Date.now() - started;
  assert.ok(ms < 4000, `stopped after ${ms} ms (draining 3 GB takes about 10 s)`);
});

test('a gzip stream inside the xz is refused (node-tar would inflate it uncounted)', async () => {
  const plain = await pythonTar('inner.tar', 'add(t, "metadata.parquet", b"pq" * 1000)');
  const gz = path.join(tmp, 'inner.tar.gz');
  await writeFile(gz, gzipSync(await readFile(plain)));
  const archive = path.join(tmp, 'gzip-inside.tar.xz');
  await writeFile(archive, await xzFile(gz));
  await assert.rejects(
    extractArchive(archive, path.join(tmp, 'gzip-inside-out'), { maxEntryBytes: 1e6, maxTotalBytes: 1e9 }),
    (err: unknown) => err instanceof BadInputError && /gzip or zstd stream inside the xz/.test(err.message),
  );
});
