/**
 * The bad-input corpus (issue 7): every kind of hostile or broken input an archive can bring, each
 * with its exact expected outcome. Generated at test time by code (nothing big is committed):
 * `build` writes the case's archive(s) with the Builder, `expect` says what must happen.
 * docs/reliability.md ("Bad inputs") lists the same cases with their outcomes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { clipKey } from '../../lib/clip-id.ts';
import type { ContractColumnType } from '../../lib/metadata/columns.ts';

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));

/** An uncompressed tar with exactly these entries (make-tar.py: Python's tarfile, PAX). */
export function makeTar(file: string, entries: TarEntry[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = execFile('python3', [path.join(HERE, 'make-tar.py'), file], (err) =>
      err ? reject(err) : resolve(),
    );
    child.stdin!.end(JSON.stringify({ entries }));
  });
}

/** 1.5 s of silence as a 64 kbps MP3: a valid clip that transcribes quickly. */
export async function writeGoodMp3(file: string): Promise<void> {
  await run('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', 'anullsrc=r=44100:cl=stereo', '-t', '1.5'],
    ...['-c:a', 'libmp3lame', '-b:a', '64k', file],
  ]);
}

export interface TarEntry {
  name: string;
  kind?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev';
  /** A file to copy in, literal text, or `size` filler bytes. */
  source?: string;
  text?: string;
  size?: number;
  link?: string;
}

/** What a case builds with: its archive names, ids, shared inputs and packers. */
export interface Builder {
  /** The case's archive name (YYYY-MM-DD_HH-MM), and a second one for cases that need two. */
  archive: string;
  second: string;
  /** The case's good clip id: its clip must be stored whatever else the archive holds. */
  goodId: string;
  /** Another id unique to the case. */
  id(n: number): string;
  /** A short silent MP3, a valid clip. */
  goodMp3: string;
  /** Scratch folder of the case. */
  work: string;
  /** A folder outside every target, which must stay empty. */
  outside: string;
  /** `<incoming>/<archive>.tar.xz` from entries (Python's tarfile, PAX). */
  packEntries(entries: TarEntry[], archive?: string): Promise<string>;
  /**
   * The usual archive: metadata.parquet with `rows` (default: one row for the good clip), the
   * good clip in audio/, plus `entries`. In a group, adds `rows` and `entries` to the group's
   * archive instead (written once every member has added its own).
   */
  pack(options?: {
    rows?: Row[];
    columns?: Columns;
    entries?: TarEntry[];
    archive?: string;
  }): Promise<string>;
  /** A metadata.parquet file from rows (contract types; `columns` overrides the column list). */
  parquet(rows: Row[], columns?: Columns): Promise<string>;
  /** The bytes of `<archive>.tar.xz` as `pack` would write them, to be mangled. */
  incoming: string;
}

export type Row = Record<string, unknown>;
export type Columns = readonly (readonly [string, ContractColumnType])[];

/** The columns a corpus row has unless a case says otherwise. */
export const BASE_COLUMNS: Columns = [
  ['id', 'string'],
  ['desc', 'string'],
  ['play_count', 'int64'],
  ['audio_file', 'string'],
];

export interface Expected {
  /** The archive cannot be read: extract fails as a whole with this reason. */
  archiveFails?: RegExp;
  /** Every clip row of the archive, by id: `stored`, or failed with a reason matching. */
  clips?: Record<string, 'stored' | RegExp>;
  /** Refused tar entries (all counted; at most 20 listed in the activity result). */
  refused?: number;
  /** A metadata problem the extract result reports. */
  metadataProblem?: RegExp;
  /** Further checks of the stored rows (column values) by id. */
  values?: Record<
    string,
    Partial<Record<'description' | 'raw_future' | 'play_count' | 'raw_play_count' | 'has_metadata', unknown>>
  >;
  /** Not listed as an archive of the date at all. */
  notListed?: boolean;
  /** Ids two archives share: exactly one row each, stored, naming either archive. */
  shared?: string[];
}

/**
 * Cases of one group share one archive (one good clip, every member's entries and rows), so that
 * the corpus transcribes a few good clips instead of one per case; each case still checks its
 * own entries and rows exactly, and the group checks the archive's rows as a whole.
 */
export type CaseGroup = 'tar-entries' | 'clips' | 'captions';

export interface CorpusCase {
  name: string;
  /** What is hostile about it, for docs/reliability.md. */
  what: string;
  group?: CaseGroup;
  build(b: Builder): Promise<void>;
  expect(b: Builder): Expected;
}

const good = (b: Builder): Record<string, 'stored'> => ({ [b.goodId]: 'stored' });

/**
 * A metadata row of the captions group: no clip of its own (so `failed: no audio`), its values
 * stored as PostgreSQL can hold them.
 */
const captionRow = (b: Builder, values: NonNullable<Expected['values']>[string]): Expected => ({
  clips: { ...good(b), [b.id(2)]: /^no audio$/ },
  values: { [b.id(2)]: values },
});

/** `count` concatenated xz streams of 10 MB of "x": 30 KB each ×count, 10 MB each decompressed. */
async function xzOfX(count: number): Promise<Buffer> {
  const { stdout } = await run('sh', ['-c', "head -c 10000000 /dev/zero | tr '\\0' x | xz -0 -T1"], {
    encoding: 'buffer',
  });
  return Buffer.concat(Array.from({ length: count }, () => stdout));
}

async function ffmpeg(args: string[]): Promise<void> {
  await run('ffmpeg', ['-v', 'error', '-y', ...args]);
}

export const CASES: CorpusCase[] = [
  {
    name: 'parent-traversal',
    group: 'tar-entries',
    what: 'entries named `../evil.mp3` and `a/../../evil.mp3`',
    build: (b) =>
      b
        .pack({
          entries: [
            { name: '../evil.mp3', source: b.goodMp3 },
            { name: 'audio/../../evil-nested.mp3', source: b.goodMp3 },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 2 }),
  },
  {
    name: 'absolute-path',
    group: 'tar-entries',
    what: 'an entry with an absolute path',
    build: (b) =>
      b
        .pack({ entries: [{ name: path.join(b.outside, 'absolute.mp3'), source: b.goodMp3 }] })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 1 }),
  },
  {
    name: 'symlink-out',
    group: 'tar-entries',
    what: 'a symbolic link to /etc/passwd named like a clip',
    build: (b) =>
      b
        .pack({ entries: [{ name: 'audio/passwd.mp3', kind: 'symlink', link: '/etc/passwd' }] })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 1 }),
  },
  {
    name: 'hardlink-out',
    group: 'tar-entries',
    what: 'a hard link to /etc/hostname named like a clip',
    build: (b) =>
      b
        .pack({ entries: [{ name: 'audio/host.mp3', kind: 'hardlink', link: '/etc/hostname' }] })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 1 }),
  },
  {
    name: 'write-through-link',
    group: 'tar-entries',
    what: 'a symlink to a folder outside, then a file written "through" it',
    build: (b) =>
      b
        .pack({
          entries: [
            { name: 'audio/sub', kind: 'symlink', link: b.outside },
            { name: 'audio/sub/through.mp3', source: b.goodMp3 },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 1 }),
  },
  {
    name: 'devices',
    group: 'tar-entries',
    what: 'a character device and a FIFO named like clips',
    build: (b) =>
      b
        .pack({
          entries: [
            { name: 'audio/dev.mp3', kind: 'chardev' },
            { name: 'audio/fifo.mp3', kind: 'fifo' },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 2 }),
  },
  {
    name: 'duplicate-names',
    group: 'clips',
    what: 'the same clip path twice (garbage, then a valid MP3)',
    build: (b) =>
      b
        .pack({
          entries: [
            { name: `audio/${b.id(2)}.mp3`, text: 'garbage first' },
            { name: `audio/${b.id(2)}.mp3`, source: b.goodMp3 },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: 'stored' } }),
  },
  {
    name: 'case-twins',
    group: 'clips',
    what: 'clips whose names differ only in case',
    build: (b) =>
      b
        .pack({
          entries: [
            { name: `audio/Ab${b.id(2)}.mp3`, source: b.goodMp3 },
            { name: `audio/aB${b.id(2)}.mp3`, source: b.goodMp3 },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [`Ab${b.id(2)}`]: 'stored', [`aB${b.id(2)}`]: 'stored' } }),
  },
  {
    name: 'unicode-twins',
    group: 'clips',
    what: 'clips named `café.mp3` in NFC and in NFD',
    build: (b) =>
      b
        .pack({
          entries: [
            { name: `audio/${'café'.normalize('NFC')}.mp3`, source: b.goodMp3 },
            { name: `audio/${'café'.normalize('NFD')}.mp3`, source: b.goodMp3 },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({
      clips: {
        ...good(b),
        [clipKey('café'.normalize('NFC'))]: new RegExp(`^unsafe id "${'café'.normalize('NFC')}"`),
        [clipKey('café'.normalize('NFD'))]: new RegExp(`^unsafe id "${'café'.normalize('NFD')}"`),
      },
    }),
  },
  {
    name: 'entry-too-big',
    group: 'tar-entries',
    what: 'a clip larger than MAX_ENTRY_BYTES',
    build: (b) =>
      b.pack({ entries: [{ name: 'audio/huge.mp3', size: 9 * 1024 * 1024 }] }).then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 1 }),
  },
  {
    name: 'xz-bomb',
    what: '3 MB of .tar.xz that decompresses to 1 GB (a refused entry)',
    build: async (b) => {
      const header = path.join(b.work, 'bomb-header.tar');
      await run('python3', [
        '-c',
        'import sys, tarfile\ni = tarfile.TarInfo("audio/bomb.mp3"); i.size = 10**9\n' +
          'open(sys.argv[1], "wb").write(i.tobuf(tarfile.PAX_FORMAT))',
        header,
      ]);
      const { stdout } = await run('xz', ['-0', '-T1', '-c', header], { encoding: 'buffer' });
      await writeFile(
        path.join(b.incoming, `${b.archive}.tar.xz`),
        Buffer.concat([stdout, await xzOfX(100)]),
      );
    },
    expect: () => ({ archiveFails: /expands beyond the limit of 67108864 bytes/ }),
  },
  {
    name: 'truncated-xz',
    what: 'a .tar.xz cut in half',
    build: async (b) => {
      const file = await b.pack({
        entries: [{ name: 'audio/noise.mp3', text: randomBytes(60_000).toString('base64') }],
      });
      await truncate(file, Math.floor((await stat(file)).size / 2));
    },
    expect: () => ({ archiveFails: /corrupt or truncated archive|corrupt tar data/ }),
  },
  {
    name: 'not-xz',
    what: 'a text file named .tar.xz',
    build: (b) => writeFile(path.join(b.incoming, `${b.archive}.tar.xz`), 'not an archive\n'.repeat(100)),
    expect: () => ({ archiveFails: /File format not recognized/ }),
  },
  {
    name: 'gzip-inside-xz',
    what: 'a gzipped tar inside the xz (node-tar would inflate it uncounted)',
    build: async (b) => {
      const plain = await b.pack({ archive: `${b.archive}-plain` });
      const tar = path.join(b.work, 'inner.tar.gz');
      await run('sh', ['-c', 'xz -dc "$1" | gzip -c > "$2"', 'sh', plain, tar]);
      await run('sh', [
        '-c',
        'xz -0 -T1 -c "$1" > "$2"',
        'sh',
        tar,
        path.join(b.incoming, `${b.archive}.tar.xz`),
      ]);
      await run('rm', [plain]);
    },
    expect: () => ({ archiveFails: /gzip or zstd stream inside the xz/ }),
  },
  {
    name: 'too-many-entries',
    what: '1,100 empty files (MAX_ARCHIVE_ENTRIES=1000)',
    build: (b) =>
      b
        .pack({ entries: Array.from({ length: 1100 }, (_, i) => ({ name: `empty/${i}`, size: 0 })) })
        .then(() => undefined),
    expect: () => ({ archiveFails: /more than 1000 entries/ }),
  },
  {
    name: 'pax-huge-names',
    what: 'a 1 MiB pax header and 300 symlinks with 60 KB targets (600 M characters before the fix)',
    build: (b) =>
      b
        .pack({
          entries: [
            { name: 'huge', kind: 'symlink', link: 'L'.repeat(1024 * 1024) },
            ...Array.from({ length: 300 }, (_, i) => ({
              name: `l${i}`,
              kind: 'symlink' as const,
              link: `/${'a'.repeat(60_000)}`,
            })),
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), refused: 302 }),
  },
  {
    name: 'bad-archive-name',
    what: 'an archive name not matching YYYY-MM-DD_HH-MM',
    build: (b) => b.pack({ archive: `${b.archive.slice(0, 10)}_7-5` }).then(() => undefined),
    expect: () => ({ notListed: true }),
  },
  {
    name: 'corrupt-mp3',
    group: 'clips',
    what: 'random bytes named .mp3',
    build: (b) =>
      b
        .pack({ entries: [{ name: `audio/${b.id(2)}.mp3`, text: randomBytes(5000).toString('latin1') }] })
        .then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: /^convert: / } }),
  },
  {
    name: 'zero-byte-mp3',
    group: 'clips',
    what: 'an empty .mp3',
    build: (b) => b.pack({ entries: [{ name: `audio/${b.id(2)}.mp3`, size: 0 }] }).then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: /^convert: .*empty file/ } }),
  },
  {
    name: 'video-as-mp3',
    group: 'clips',
    what: 'an MP4 video named .mp3',
    build: async (b) => {
      const video = path.join(b.work, 'video.mp4');
      await ffmpeg([
        ...[
          '-f',
          'lavfi',
          '-i',
          'testsrc=duration=2:size=160x120:rate=10',
          '-f',
          'lavfi',
          '-i',
          'sine=duration=2',
        ],
        ...['-c:v', 'mpeg4', '-c:a', 'aac', '-shortest', video],
      ]);
      await b.pack({ entries: [{ name: `audio/${b.id(2)}.mp3`, source: video }] });
    },
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: /^convert: / } }),
  },
  {
    name: 'text-as-mp3',
    group: 'clips',
    what: 'a text file named .mp3',
    build: (b) =>
      b
        .pack({ entries: [{ name: `audio/${b.id(2)}.mp3`, text: 'hello\n'.repeat(2000) }] })
        .then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: /^convert: / } }),
  },
  {
    name: 'hls-playlist-as-mp3',
    group: 'clips',
    what: 'an HLS playlist named .mp3 that points at another file (was converted as that file)',
    build: (b) =>
      b
        .pack({
          entries: [
            {
              name: `audio/${b.id(2)}.mp3`,
              text: `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2,\n${b.goodId}.mp3\n#EXT-X-ENDLIST\n`,
            },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: /^convert: / } }),
  },
  {
    name: 'flac-as-mp3',
    group: 'clips',
    what: 'an hour of FLAC silence named .mp3 (probes as 3,600 s)',
    build: async (b) => {
      const flac = path.join(b.work, 'hour.flac');
      await ffmpeg(['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '3600', '-c:a', 'flac', flac]);
      await b.pack({ entries: [{ name: `audio/${b.id(2)}.mp3`, source: flac }] });
    },
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: /^convert: / } }),
  },
  {
    name: 'too-long-mp3',
    group: 'clips',
    what: 'an MP3 of 40 s (MAX_CLIP_SECONDS=20)',
    build: async (b) => {
      const long = path.join(b.work, 'long.mp3');
      await ffmpeg([
        '-f',
        'lavfi',
        '-i',
        'anullsrc=r=8000:cl=mono',
        '-t',
        '40',
        '-c:a',
        'libmp3lame',
        '-b:a',
        '8k',
        long,
      ]);
      await b.pack({ entries: [{ name: `audio/${b.id(2)}.mp3`, source: long }] });
    },
    expect: (b) => ({
      clips: { ...good(b), [b.id(2)]: /^convert: .*longer than the limit of 20 s \(MAX_CLIP_SECONDS\)/ },
    }),
  },
  {
    name: 'parquet-no-id-column',
    what: 'metadata.parquet without an id column',
    build: (b) =>
      b
        .pack({
          rows: [{ desc: 'no id here', audio_file: `${b.goodId}.mp3` }],
          columns: [
            ['desc', 'string'],
            ['audio_file', 'string'],
          ],
        })
        .then(() => undefined),
    expect: (b) => ({
      clips: good(b),
      metadataProblem: /metadata.parquet not used: .*metadata has no id column/,
      values: { [b.goodId]: { has_metadata: false } },
    }),
  },
  {
    name: 'parquet-null-ids',
    what: 'rows whose id is null or empty',
    build: (b) =>
      b
        .pack({
          rows: [
            { id: b.goodId, desc: 'good' },
            { id: null, desc: 'no id' },
            { id: '   ', desc: 'blank id' },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), metadataProblem: /row 1: no id, skipped/ }),
  },
  {
    name: 'parquet-unknown-columns',
    what: 'a column the contract does not know',
    build: (b) =>
      b
        .pack({
          rows: [{ id: b.goodId, desc: 'good', future_field: 'kept' }],
          columns: [...BASE_COLUMNS, ['future_field', 'string']],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), values: { [b.goodId]: { raw_future: 'kept' } } }),
  },
  {
    name: 'parquet-wrong-types',
    what: 'play_count as text, create_time as text, is_ad as int32',
    build: (b) =>
      b
        .pack({
          rows: [{ id: b.goodId, play_count: 'lots', create_time: 'yesterday', is_ad: 7 }],
          columns: [
            ['id', 'string'],
            ['play_count', 'string'],
            ['create_time', 'string'],
            ['is_ad', 'int32'],
          ],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: good(b), values: { [b.goodId]: { play_count: null, raw_play_count: 'lots' } } }),
  },
  {
    name: 'parquet-row-bomb',
    what: 'a small parquet declaring 150,000 rows (MAX_PARQUET_ROWS=100000)',
    build: (b) =>
      b
        .pack({
          rows: Array.from({ length: 150_000 }, () => ({ id: b.goodId, desc: 'same' })),
          columns: [
            ['id', 'string'],
            ['desc', 'string'],
          ],
        })
        .then(() => undefined),
    expect: (b) => ({
      clips: good(b),
      metadataProblem: /declares 150000 rows, more than the limit of 100000 \(MAX_PARQUET_ROWS\)/,
      values: { [b.goodId]: { has_metadata: false } },
    }),
  },
  {
    name: 'duplicate-ids-within',
    what: 'two rows with the same id in one parquet',
    build: (b) =>
      b
        .pack({
          rows: [
            { id: b.goodId, desc: 'first' },
            { id: b.goodId, desc: 'second' },
          ],
        })
        .then(() => undefined),
    expect: (b) => ({
      clips: good(b),
      metadataProblem: /row 1: id \d+ repeats row 0, skipped/,
      values: { [b.goodId]: { description: 'first' } },
    }),
  },
  {
    name: 'duplicate-ids-across',
    what: 'two archives of the date with the same video id',
    build: async (b) => {
      const shared = b.id(9);
      const rows = [
        { id: b.goodId, desc: 'good' },
        { id: shared, desc: 'shared' },
      ];
      await b.pack({ rows, entries: [{ name: `audio/${shared}.mp3`, source: b.goodMp3 }] });
      await b.pack({
        archive: b.second,
        rows: [{ id: shared, desc: 'shared' }],
        entries: [{ name: `audio/${shared}.mp3`, source: b.goodMp3 }],
      });
    },
    // One row per shared id, stored, whichever archive it names (see the Faults section); both
    // archives hold the good clip too.
    expect: (b) => ({
      clips: {},
      shared: [b.goodId, b.id(9)],
      values: { [b.id(9)]: { description: 'shared' } },
    }),
  },
  {
    name: 'caption-emoji-rtl',
    group: 'captions',
    what: 'a caption with emoji, Arabic and Hebrew (RTL) text',
    build: (b) => b.pack({ rows: [{ id: b.id(2), desc: '🎉 مرحبا بالعالم שלום 👍🏽' }] }).then(() => undefined),
    expect: (b) => captionRow(b, { description: '🎉 مرحبا بالعالم שלום 👍🏽' }),
  },
  {
    name: 'caption-nul',
    group: 'captions',
    what: 'a caption with NUL bytes',
    build: (b) => b.pack({ rows: [{ id: b.id(2), desc: 'a\u0000b\u0000c' }] }).then(() => undefined),
    expect: (b) => captionRow(b, { description: 'abc' }),
  },
  {
    name: 'caption-100kb',
    group: 'captions',
    what: 'a caption of 100,000 characters',
    build: (b) => b.pack({ rows: [{ id: b.id(2), desc: 'w'.repeat(100_000) }] }).then(() => undefined),
    expect: (b) => captionRow(b, { description: 'w'.repeat(100_000) }),
  },
  {
    name: 'lone-surrogates',
    group: 'captions',
    what: 'a caption with lone UTF-16 surrogates',
    build: (b) => b.pack({ rows: [{ id: b.id(2), desc: 'x\uD800y\uDC00z' }] }).then(() => undefined),
    expect: (b) => captionRow(b, { description: 'x\uFFFDy\uFFFDz' }),
  },
  {
    name: 'int64-beyond-2^53',
    group: 'captions',
    what: 'play_count of 2^63 − 1',
    build: (b) => b.pack({ rows: [{ id: b.id(2), play_count: 2n ** 63n - 1n }] }).then(() => undefined),
    expect: (b) =>
      captionRow(b, { play_count: '9223372036854775807', raw_play_count: '9223372036854775807' }),
  },
  {
    name: 'id-with-nul',
    group: 'clips',
    what: 'a metadata id with a NUL byte (PostgreSQL 22021)',
    build: (b) =>
      b
        .pack({
          rows: [{ id: `${b.id(2)}\u0000x`, audio_file: 'nul.mp3' }],
          entries: [{ name: 'audio/nul.mp3', source: b.goodMp3 }],
        })
        .then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [clipKey(`${b.id(2)}\u0000x`)]: /^unsafe id "\d+\\x00x"/ } }),
  },
  {
    name: 'id-8000-chars',
    group: 'clips',
    what: 'a metadata id of 8,000 characters (PostgreSQL 54000)',
    build: (b) =>
      b
        .pack({
          rows: [{ id: LONG_ID, audio_file: 'long-id.mp3' }],
          entries: [{ name: 'audio/long-id.mp3', source: b.goodMp3 }],
        })
        .then(() => undefined),
    expect: (b) => ({
      clips: { ...good(b), [clipKey(LONG_ID)]: /^unsafe id "[0-9a-f]{60}… \(8000 characters\)"/ },
    }),
  },
  {
    name: 'row-without-clip',
    group: 'clips',
    what: 'a metadata row whose clip is not in the archive',
    build: (b) => b.pack({ rows: [{ id: b.id(2) }] }).then(() => undefined),
    expect: (b) => ({ clips: { ...good(b), [b.id(2)]: /^no audio$/ } }),
  },
];

const LONG_ID = randomBytes(4000).toString('hex');
