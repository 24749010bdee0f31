import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { extractArchive } from '../../lib/archive/extract.ts';
import { BadInputError } from '../../lib/errors.ts';
import { CONTRACT_COLUMNS, type ContractColumnType } from '../../lib/metadata/columns.ts';
import { readMetadata, readMetadataReport, toJsonSafe } from '../../lib/metadata/read.ts';
import { generateDay, type GeneratedDay } from '../../lib/sample-day/generate.ts';
import { writeContractParquet, type ParquetColumns } from '../../lib/sample-day/parquet.ts';

let tmp: string;
let day: GeneratedDay;
let generatedParquet: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'metadata-test-'));
  day = await generateDay({
    date: '2024-03-10',
    archives: 1,
    clipsPerArchive: 12,
    outDir: path.join(tmp, 'day'),
    seed: 5,
  });
  const report = await extractArchive(day.archives[0], path.join(tmp, 'x'), {
    maxEntryBytes: 1e9,
    maxTotalBytes: 1e10,
  });
  assert.ok(report.metadataPath);
  generatedParquet = report.metadataPath;
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** What a raw value of each contract type must look like once JSON-safe. */
function rawMatches(type: ContractColumnType, v: unknown): boolean {
  if (v === null) return true;
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'int32':
      return typeof v === 'number' && Number.isInteger(v);
    case 'int64':
      return (
        (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^-?\d{16,}$/.test(v))
      );
    case 'double':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'timestamp':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v);
    case 'list':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

describe('readMetadata on a generated metadata.parquet', () => {
  test('keeps all 99 contract columns in raw, each with the right JSON type', async () => {
    const { rows, problems, columns } = await readMetadataReport(generatedParquet);
    assert.deepEqual(problems, []);
    assert.equal(columns.length, 99);
    assert.deepEqual(
      columns,
      CONTRACT_COLUMNS.map(([n]) => n),
    );
    assert.deepEqual(
      rows.map((r) => r.id),
      day.truth.archives['2024-03-10_00-00'].clips,
    );
    for (const row of rows) {
      assert.equal(Object.keys(row.raw).length, 99);
      for (const [name, type] of CONTRACT_COLUMNS) {
        assert.ok(rawMatches(type, row.raw[name]), `${name} (${type}) = ${JSON.stringify(row.raw[name])}`);
      }
      // raw survives JSON (jsonb) unchanged
      assert.deepEqual(JSON.parse(JSON.stringify(row.raw)), row.raw);
      assert.match(row.id, /^\d{19}$/);
      assert.equal(row.audioFile, `${row.id}.mp3`); // row 3 has audio_file null: the default applies
      assert.ok(row.createTime && !Number.isNaN(Date.parse(row.createTime)));
      assert.ok(row.collectedAt && row.collectedAt.startsWith('2024-03-10T00:0'));
    }
    assert.equal(rows[3].raw.audio_file, null);
  });

  test('int64 values stay exact beyond 2^53, as decimal strings', async () => {
    const rows = await readMetadata(generatedParquet);
    assert.equal(rows[0].stats.playCount, '9007199254740993');
    assert.equal(rows[0].raw.play_count, '9007199254740993');
    assert.equal(rows[1].raw.author_heart_count, '9223372036854775807');
    assert.equal(rows[1].author.heartCount, '9223372036854775807');
    assert.equal(typeof rows[2].raw.digg_count, 'number');
    assert.equal(rows[2].stats.diggCount, String(rows[2].raw.digg_count));
  });

  test('typed fields follow the columns', async () => {
    const rows = await readMetadata(generatedParquet);
    for (const row of rows) {
      assert.equal(row.description, row.raw.desc);
      assert.deepEqual(row.hashtags, row.raw.hashtags ?? []);
      assert.deepEqual(row.mentions, row.raw.mentions ?? []);
      assert.equal(row.isAd, row.raw.is_ad);
      assert.equal(row.videoDuration, row.raw.video_duration);
      assert.equal(row.music.id, row.raw.music_id);
      assert.equal(row.music.original, row.raw.music_original);
      assert.equal(row.region, row.raw.location_created);
      assert.equal(row.location.poiCity, row.raw.poi_city);
      assert.equal(row.author.uniqueId, row.raw.author_unique_id);
      assert.equal(row.author.verified, row.raw.author_verified);
      assert.equal(row.sourceQuery, row.raw.source_query);
    }
    assert.ok(
      rows.some((r) => (r.description ?? '').length > 4000),
      'a 4,000+ character caption',
    );
  });
});

describe('readMetadata round trip of hand-written rows', () => {
  const caption = 'Ünïcödé ✓ 👨‍👩‍👧‍👦 🇩🇪 مرحبا بالعالم שלום עולם — 𝔘𝔫𝔦 \u200f end';
  const rows = [
    {
      id: '7318273645512907014',
      create_time: new Date('2024-01-15T10:20:30.456Z'),
      desc: caption,
      schedule_time: 0n,
      is_ad: false,
      video_duration: 17,
      video_volume_loudness: -14.25,
      author_follower_count: 9_007_199_254_740_993n,
      author_heart_count: -9_223_372_036_854_775_808n,
      play_count: 123n,
      hashtags: ['fyp', 'café', '日本'],
      mentions: [],
      effect_sticker_ids: null,
      poi_id: null,
      audio_file: 'custom name.mp3',
    },
    { id: null, desc: 'no id: skipped' },
    { id: '', desc: 'empty id: skipped' },
    { id: '7318273645512907014', desc: 'repeated id: skipped' },
    { id: '0000000000000000001' },
  ];

  test('values come back exactly; null and repeated ids are skipped and reported', async () => {
    const file = path.join(tmp, 'hand.parquet');
    await writeContractParquet(file, rows);
    const { rows: out, problems } = await readMetadataReport(file);
    assert.deepEqual(problems, [
      'row 1: no id, skipped',
      'row 2: no id, skipped',
      'row 3: id 7318273645512907014 repeats row 0, skipped',
    ]);
    assert.equal(out.length, 2);
    const [a, b] = out;
    assert.equal(a.id, '7318273645512907014');
    assert.equal(a.description, caption);
    assert.equal(a.raw.desc, caption);
    assert.equal(a.createTime, '2024-01-15T10:20:30.456Z');
    assert.equal(a.raw.create_time, '2024-01-15T10:20:30.456Z');
    assert.equal(a.raw.schedule_time, 0);
    assert.equal(a.raw.author_follower_count, '9007199254740993');
    assert.equal(a.author.followerCount, '9007199254740993');
    assert.equal(a.raw.author_heart_count, '-9223372036854775808');
    assert.equal(a.raw.play_count, 123);
    assert.equal(a.stats.playCount, '123');
    assert.equal(a.raw.video_volume_loudness, -14.25);
    assert.deepEqual(a.hashtags, ['fyp', 'café', '日本']);
    assert.deepEqual(a.raw.mentions, []);
    assert.equal(a.raw.effect_sticker_ids, null);
    assert.equal(a.audioFile, 'custom name.mp3');
    assert.equal(a.isAd, false);
    assert.equal(a.videoDuration, 17);
    assert.equal(b.id, '0000000000000000001', 'leading zeros kept: ids are strings');
    assert.equal(b.audioFile, '0000000000000000001.mp3');
    assert.equal(b.createTime, null);
    assert.deepEqual(b.hashtags, []);
    assert.equal(b.author.followerCount, null);
    assert.equal(Object.keys(b.raw).length, 99);
  });

  test('missing optional columns never fail; unknown columns are kept in raw', async () => {
    const dropped = new Set(['audio_file', 'hashtags', 'create_time', 'play_count', 'music_id', 'poi_city']);
    const columns: ParquetColumns = [
      ...CONTRACT_COLUMNS.filter(([n]) => !dropped.has(n)),
      ['brand_new_field', 'string'],
      ['brand_new_count', 'int64'],
      ['brand_new_list', 'list'],
    ];
    const file = path.join(tmp, 'drift.parquet');
    await writeContractParquet(
      file,
      [{ id: '42', brand_new_field: 'hello 👋', brand_new_count: 2n ** 60n, brand_new_list: ['x', 'y'] }],
      columns,
    );
    const [row] = await readMetadata(file);
    assert.equal(row.id, '42');
    assert.equal(row.audioFile, '42.mp3');
    assert.deepEqual(row.hashtags, []);
    assert.equal(row.createTime, null);
    assert.equal(row.stats.playCount, null);
    assert.equal(row.music.id, null);
    assert.equal(row.location.poiCity, null);
    for (const name of dropped) assert.equal(name in row.raw, false, name);
    assert.equal(row.raw.brand_new_field, 'hello 👋');
    assert.equal(row.raw.brand_new_count, '1152921504606846976');
    assert.deepEqual(row.raw.brand_new_list, ['x', 'y']);
    assert.equal(Object.keys(row.raw).length, 99 - dropped.size + 3);
  });

  test('an int64 id column (drift) gives exact decimal ids', async () => {
    const file = path.join(tmp, 'int-id.parquet');
    await writeContractParquet(file, [{ id: 7318273645512907014n }], [['id', 'int64']]);
    const [row] = await readMetadata(file);
    assert.equal(row.id, '7318273645512907014');
  });

  test('no id column is BadInputError naming the file', async () => {
    const file = path.join(tmp, 'no-id.parquet');
    await writeContractParquet(
      file,
      [{ desc: 'x' }],
      CONTRACT_COLUMNS.filter(([n]) => n !== 'id'),
    );
    await assert.rejects(readMetadata(file), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.ok(err.message.includes(file));
      assert.match(err.message, /no id column/);
      return true;
    });
  });

  test('a corrupt, truncated or missing parquet is BadInputError naming the file', async () => {
    const good = await readFile(generatedParquet);
    const cases: Record<string, Uint8Array> = {
      'garbage.parquet': Buffer.from('PAR1 this is not parquet at all PAR1'),
      'truncated.parquet': good.subarray(0, Math.floor(good.length / 2)),
      'empty.parquet': new Uint8Array(0),
      'bad-footer.parquet': Buffer.concat([
        good.subarray(0, good.length - 12),
        Buffer.from([0xff, 0xff, 0xff, 0x0f, 1, 2, 3, 4]),
        Buffer.from('PAR1'),
      ]),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const file = path.join(tmp, name);
      await writeFile(file, bytes);
      await assert.rejects(
        readMetadata(file),
        (err: unknown) => err instanceof BadInputError && err.message.includes(file),
        name,
      );
    }
    await assert.rejects(readMetadata(path.join(tmp, 'missing.parquet')), BadInputError);
  });
});

describe('toJsonSafe', () => {
  test('bigint, Date, bytes, non-finite numbers, nested values', () => {
    assert.equal(toJsonSafe(5n), 5);
    assert.equal(toJsonSafe(2n ** 53n), '9007199254740992');
    assert.equal(toJsonSafe(-(2n ** 63n)), '-9223372036854775808');
    assert.equal(toJsonSafe(new Date(0)), '1970-01-01T00:00:00.000Z');
    assert.equal(toJsonSafe(new Date(Number.NaN)), null);
    assert.equal(toJsonSafe(new Uint8Array([0, 255, 1])), 'AP8B');
    assert.equal(toJsonSafe(Number.NaN), 'NaN');
    assert.equal(toJsonSafe(undefined), null);
    assert.deepEqual(toJsonSafe([1n, [new Date(0)], { a: 2n ** 60n }]), [
      1,
      ['1970-01-01T00:00:00.000Z'],
      { a: '1152921504606846976' },
    ]);
  });
});
