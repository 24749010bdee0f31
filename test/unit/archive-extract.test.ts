import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { extractArchive, locateContents, safeEntryPath } from '../../lib/archive/extract.ts';
import { BadInputError } from '../../lib/errors.ts';
import { shownText } from '../../lib/untrusted-text.ts';
import { generateDay, type GeneratedDay } from '../../lib/sample-day/generate.ts';

const run = promisify(execFile);
const LIMITS = { maxEntryBytes: 64 * 1024 * 1024, maxTotalBytes: 1024 * 1024 * 1024 };

let tmp: string;
let day: GeneratedDay;
let unsafe: GeneratedDay;

/** Every path under dir (relative), with what it is; follows nothing. */
async function walk(dir: string, prefix = ''): Promise<{ path: string; kind: string }[]> {
  const out: { path: string; kind: string }[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const full = path.join(dir, name);
    const s = await lstat(full);
    const rel = path.posix.join(prefix, name);
    const kind = s.isSymbolicLink() ? 'symlink' : s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
    out.push({ path: rel, kind });
    if (kind === 'dir') out.push(...(await walk(full, rel)));
  }
  return out;
}

async function tarXz(name: string, files: Record<string, number | string>): Promise<string> {
  const src = await mkdtemp(path.join(tmp, 'src-'));
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(src, rel)), { recursive: true });
    await writeFile(path.join(src, rel), typeof content === 'number' ? Buffer.alloc(content, 7) : content);
  }
  const archive = path.join(tmp, name);
  await run('tar', [
    '-C',
    src,
    '-cJf',
    archive,
    ...Object.keys(files)
      .map((f) => f.split('/')[0])
      .filter((v, i, a) => a.indexOf(v) === i),
  ]);
  return archive;
}

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'extract-test-'));
  day = await generateDay({
    date: '2024-01-15',
    archives: 3,
    clipsPerArchive: 2,
    outDir: path.join(tmp, 'day'),
    seed: 11,
  });
  unsafe = await generateDay({
    date: '2024-01-16',
    archives: 2,
    clipsPerArchive: 2,
    outDir: path.join(tmp, 'unsafe'),
    seed: 12,
    defects: { unsafeEntries: true, truncatedArchive: true },
  });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('extractArchive', () => {
  test('extracts each contract layout (audio/, root, one top folder) and finds metadata and clips', async () => {
    const layouts = new Set<string>();
    for (const archive of day.archives) {
      const name = path.basename(archive, '.tar.xz');
      const truth = day.truth.archives[name];
      layouts.add(truth.layout);
      const dest = path.join(tmp, 'out', name);
      const report = await extractArchive(archive, dest, LIMITS);
      assert.deepEqual(report.refused, []);
      assert.ok(report.metadataPath && existsSync(report.metadataPath), 'metadata.parquet found');
      assert.equal(path.basename(report.metadataPath), 'metadata.parquet');
      assert.deepEqual(
        report.audioFiles.map((f) => path.basename(f)).sort(),
        truth.clips.map((id) => `${id}.mp3`).sort(),
      );
      for (const f of report.audioFiles) assert.ok(path.isAbsolute(f) && f.startsWith(dest + path.sep));
      for (const f of report.files) assert.equal((await stat(path.join(dest, f.path))).size, f.bytes);
      const kinds = await walk(dest);
      assert.ok(kinds.every((k) => k.kind === 'file' || k.kind === 'dir'));
      assert.ok(
        kinds.every((k) => !k.path.includes('.extract-')),
        'no temp files left',
      );
    }
    assert.deepEqual([...layouts].sort(), ['audio', 'root', 'top']);
  });

  test('refuses every unsafe entry kind and writes nothing outside the target', async () => {
    const name = `${unsafe.truth.archives['2024-01-16_00-00'].name}`;
    const truth = unsafe.truth.archives[name];
    const parent = path.join(tmp, 'unsafe-out');
    const dest = path.join(parent, 'dest');
    assert.ok(truth.absoluteTarget && !existsSync(truth.absoluteTarget));
    const report = await extractArchive(path.join(tmp, 'unsafe', truth.file), dest, LIMITS);

    const reasons = new Map(report.refused.map((r) => [r.entry, r.reason]));
    assert.match(reasons.get('../evil.txt') ?? '', /escapes the target/);
    assert.match(reasons.get('a/../../evil-nested.txt') ?? '', /escapes the target/);
    assert.match(reasons.get(truth.absoluteTarget) ?? '', /absolute path/);
    assert.match(reasons.get('evil-symlink') ?? '', /symbolic link to \/etc\/passwd/);
    assert.match(reasons.get('evil-hardlink') ?? '', /hard link to \/etc\/hostname/);
    assert.match(reasons.get('evil-fifo') ?? '', /FIFO/);
    assert.match(reasons.get('evil-device') ?? '', /character device/);
    assert.equal(report.refused.length, 7);

    assert.equal(existsSync(truth.absoluteTarget), false, 'absolute target not written');
    assert.deepEqual(await readdir(parent), ['dest'], 'nothing beside the target');
    assert.equal(existsSync(path.join(tmp, 'evil.txt')), false);
    assert.equal(existsSync(path.join(tmp, 'evil-nested.txt')), false);
    const contents = await walk(dest);
    assert.ok(
      contents.every((c) => c.kind === 'file' || c.kind === 'dir'),
      JSON.stringify(contents),
    );
    assert.ok(!contents.some((c) => c.path.includes('evil')), JSON.stringify(contents));
    // The legitimate clips of the same archive are all there.
    assert.equal(report.audioFiles.length, truth.clips.length);
    assert.ok(report.metadataPath);
  });

  test('a truncated archive is BadInputError naming the archive and xz’s reason; nothing is left', async () => {
    const truth = unsafe.truth.archives['2024-01-16_00-10'];
    assert.deepEqual(truth.defects, ['truncatedArchive']);
    const archive = path.join(tmp, 'unsafe', truth.file);
    const dest = path.join(tmp, 'truncated-out');
    await assert.rejects(extractArchive(archive, dest, LIMITS), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.ok(err.message.includes(archive), err.message);
      assert.match(err.message, /Unexpected end of input|truncated|corrupt/i);
      return true;
    });
    assert.deepEqual(
      (await walk(dest)).filter((c) => c.kind === 'file'),
      [],
    );
  });

  test('corrupt xz data (a flipped byte anywhere) is BadInputError with xz’s reason; nothing is left', async () => {
    const bytes = await readFile(day.archives[1]);
    for (const at of [100, Math.floor(bytes.length / 2), bytes.length - 30]) {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x55;
      const archive = path.join(tmp, `flipped-${at}.tar.xz`);
      await writeFile(archive, copy);
      const dest = path.join(tmp, `flipped-${at}-out`);
      await assert.rejects(extractArchive(archive, dest, LIMITS), (err: unknown) => {
        assert.ok(err instanceof BadInputError);
        assert.match(err.message, /xz: .*(corrupt|Unexpected end)/i);
        return true;
      });
      assert.deepEqual(
        (await walk(dest)).filter((c) => c.kind === 'file'),
        [],
        `flip at ${at}`,
      );
    }
  });

  test('a file that is not xz at all is BadInputError', async () => {
    const archive = path.join(tmp, 'not-xz.tar.xz');
    await writeFile(archive, 'this is plain text, not xz data\n'.repeat(20));
    await assert.rejects(extractArchive(archive, path.join(tmp, 'not-xz-out'), LIMITS), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.match(err.message, /File format not recognized/);
      return true;
    });
  });

  test('xz data that is not a tar is BadInputError', async () => {
    const plain = path.join(tmp, 'not-tar');
    await writeFile(plain, 'x'.repeat(5000));
    await run('xz', ['-k', '-f', plain]);
    await assert.rejects(extractArchive(`${plain}.xz`, path.join(tmp, 'not-tar-out'), LIMITS), BadInputError);
  });

  test('a missing archive is BadInputError', async () => {
    await assert.rejects(
      extractArchive(path.join(tmp, 'nope.tar.xz'), path.join(tmp, 'nope-out'), LIMITS),
      BadInputError,
    );
  });

  test('an entry over maxEntryBytes is refused, the others extracted', async () => {
    const archive = await tarXz('caps-entry.tar.xz', {
      'metadata.parquet': 'pq',
      'audio/big.mp3': 50_000,
      'audio/small.mp3': 900,
    });
    const dest = path.join(tmp, 'caps-entry-out');
    const report = await extractArchive(archive, dest, { maxEntryBytes: 1000, maxTotalBytes: 1_000_000 });
    assert.deepEqual(report.refused, [
      { entry: 'audio/big.mp3', reason: '50000 bytes exceeds the per-entry limit of 1000 bytes' },
    ]);
    assert.equal(existsSync(path.join(dest, 'audio', 'big.mp3')), false);
    assert.deepEqual(report.audioFiles, [path.join(dest, 'audio', 'small.mp3')]);
  });

  test('passing maxTotalBytes stops with BadInputError and removes what was written', async () => {
    const archive = await tarXz('caps-total.tar.xz', { 'a.mp3': 20_000, 'b.mp3': 20_000, 'c.mp3': 20_000 });
    const dest = path.join(tmp, 'caps-total-out');
    await assert.rejects(
      extractArchive(archive, dest, { maxEntryBytes: 1_000_000, maxTotalBytes: 30_000 }),
      (err: unknown) => {
        assert.ok(err instanceof BadInputError);
        assert.match(err.message, /limit of 30000 bytes/);
        assert.ok(err.message.includes(archive));
        return true;
      },
    );
    assert.deepEqual(
      (await walk(dest)).filter((c) => c.kind === 'file'),
      [],
    );
  });

  test('more entries than maxEntries (empty files included) stops with BadInputError; nothing is left', async () => {
    const files: Record<string, number> = {};
    for (let i = 0; i < 12; i++) files[`e/${String(i).padStart(2, '0')}.mp3`] = 0;
    const archive = await tarXz('caps-count.tar.xz', files);
    const dest = path.join(tmp, 'caps-count-out');
    await assert.rejects(extractArchive(archive, dest, { ...LIMITS, maxEntries: 5 }), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.match(err.message, /more than 5 entries/);
      assert.ok(err.message.includes(archive));
      return true;
    });
    assert.deepEqual(
      (await walk(dest)).filter((c) => c.kind === 'file'),
      [],
    );
    // 13 entries (the folder and 12 files) pass a cap of 13.
    const report = await extractArchive(archive, path.join(tmp, 'caps-count-ok'), {
      ...LIMITS,
      maxEntries: 13,
    });
    assert.equal(report.files.length, 12);
  });

  test('an archive needing more xz memory than allowed is BadInputError with xz’s reason', async () => {
    const archive = await tarXz('memlimit.tar.xz', { 'metadata.parquet': 'pq', 'audio/a.mp3': 100 });
    const dest = path.join(tmp, 'memlimit-out');
    // tar -J uses xz -6 (an 8 MiB dictionary): a 1 MiB limit is too little.
    await assert.rejects(
      extractArchive(archive, dest, { ...LIMITS, maxXzMemoryBytes: 1024 * 1024 }),
      (err: unknown) => {
        assert.ok(err instanceof BadInputError);
        assert.match(
          err.message,
          /more memory to decompress than the limit of 1048576 bytes: xz: .*[Mm]emory usage limit/,
        );
        assert.ok(err.message.includes(archive));
        return true;
      },
    );
    const report = await extractArchive(archive, path.join(tmp, 'memlimit-ok'), LIMITS);
    assert.equal(report.audioFiles.length, 1);
  });

  test('an entry whose name is too long for the filesystem is refused, the others extracted', async () => {
    const long = `audio/${'n'.repeat(300)}.mp3`;
    const plain = path.join(tmp, 'long-name.tar');
    const script = [
      'import io, sys, tarfile',
      'with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:',
      '    for name, data in ((sys.argv[2], b"long"), ("audio/ok.mp3", b"fine"), ("metadata.parquet", b"pq")):',
      '        info = tarfile.TarInfo(name)',
      '        info.size = len(data)',
      '        t.addfile(info, io.BytesIO(data))',
    ].join('\n');
    await run('python3', ['-c', script, plain, long]);
    await run('xz', ['-z', '-T1', plain]);
    const dest = path.join(tmp, 'long-name-out');
    const report = await extractArchive(`${plain}.xz`, dest, LIMITS);
    assert.deepEqual(report.refused, [
      { entry: shownText(long), reason: 'file name too long for the filesystem (ENAMETOOLONG)' },
    ]);
    assert.deepEqual(
      report.files.map((f) => f.path),
      ['audio/ok.mp3', 'metadata.parquet'],
    );
    assert.equal(await readFile(path.join(dest, 'audio', 'ok.mp3'), 'utf8'), 'fine');
    assert.deepEqual(
      (await walk(dest)).map((c) => c.path),
      ['audio', 'audio/ok.mp3', 'metadata.parquet'],
    );
  });

  test('a symlink already inside the target is never written through', async () => {
    const archive = await tarXz('through-link.tar.xz', { 'metadata.parquet': 'pq', 'audio/x.mp3': 100 });
    const outside = path.join(tmp, 'outside');
    await mkdir(outside);
    const dest = path.join(tmp, 'through-link-out');
    await mkdir(dest);
    await symlink(outside, path.join(dest, 'audio'));
    const report = await extractArchive(archive, dest, LIMITS);
    assert.deepEqual(await readdir(outside), []);
    assert.ok(report.refused.some((r) => r.entry === 'audio/x.mp3' && /outside the target/.test(r.reason)));
  });

  test('is idempotent: extracting again into the same folder gives the same files and report', async () => {
    const archive = day.archives[0];
    const dest = path.join(tmp, 'again');
    const first = await extractArchive(archive, dest, LIMITS);
    const hashes = async () =>
      Promise.all(
        first.files.map(async (f) => [f.path, sha(await readFile(path.join(dest, f.path)))] as const),
      );
    const before1 = await hashes();
    const listing = await walk(dest);
    const second = await extractArchive(archive, dest, LIMITS);
    assert.deepEqual(second, first);
    assert.deepEqual(await hashes(), before1);
    assert.deepEqual(await walk(dest), listing);
  });

  test('reports progress per entry', async () => {
    const seen: number[] = [];
    await extractArchive(day.archives[1], path.join(tmp, 'progress'), {
      ...LIMITS,
      onProgress: (p) => seen.push(p.entries),
    });
    assert.ok(seen.length >= 3);
    assert.deepEqual(
      seen,
      seen.map((_, i) => i + 1),
    );
  });
});

describe('safeEntryPath', () => {
  test('normalises harmless forms and refuses escaping ones', () => {
    assert.deepEqual(safeEntryPath('./audio/1.mp3'), { ok: true, rel: 'audio/1.mp3' });
    assert.deepEqual(safeEntryPath('audio//1.mp3'), { ok: true, rel: 'audio/1.mp3' });
    assert.deepEqual(safeEntryPath('./'), { ok: true, rel: '' });
    for (const bad of ['../x', 'a/../../x', 'a/..', '/etc/passwd', 'C:/x', '\\\\server\\x', 'a\0b']) {
      assert.equal(safeEntryPath(bad).ok, false, bad);
    }
  });
});

describe('locateContents', () => {
  test('root, audio/, one top folder, and hidden files', () => {
    assert.deepEqual(
      locateContents(['metadata.parquet', '1.mp3', 'audio/2.mp3', 'other/3.mp3', '._4.mp3', 'notes.txt']),
      {
        metadataPath: 'metadata.parquet',
        audioFiles: ['1.mp3', 'audio/2.mp3'],
      },
    );
    assert.deepEqual(
      locateContents(['day/metadata.parquet', 'day/audio/1.mp3', 'day/2.MP3', '__MACOSX/day/._1.mp3']),
      {
        metadataPath: 'day/metadata.parquet',
        audioFiles: ['day/2.MP3', 'day/audio/1.mp3'],
      },
    );
    assert.deepEqual(locateContents(['day/audio/1.mp3']), {
      metadataPath: null,
      audioFiles: ['day/audio/1.mp3'],
    });
    assert.deepEqual(locateContents([]), { metadataPath: null, audioFiles: [] });
  });
});
