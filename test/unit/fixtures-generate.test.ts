import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { extractArchive } from '../../lib/archive/extract.ts';
import { CONTRACT_COLUMNS } from '../../lib/metadata/columns.ts';
import { generateDay, type GeneratedDay, type Truth } from '../../lib/sample-day/generate.ts';
import { SENTENCES } from '../../lib/sample-day/sentences.ts';
import { probe } from '../support/audio-files.ts';

let tmp: string;
let day: GeneratedDay;

async function sha(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'fixtures-test-'));
  day = await generateDay({
    date: '2024-05-01',
    archives: 3,
    clipsPerArchive: 3,
    outDir: path.join(tmp, 'a'),
    seed: 3,
    defects: { corruptMp3: true, emptyMp3: true, rowWithoutClip: true, clipWithoutRow: true },
  });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('generateDay', () => {
  test('one YYYY-MM-DD_HH-MM.tar.xz per 10-minute slot, and truth.json', async () => {
    assert.deepEqual((await readdir(path.join(tmp, 'a'))).sort(), [
      '2024-05-01_00-00.tar.xz',
      '2024-05-01_00-10.tar.xz',
      '2024-05-01_00-20.tar.xz',
      'truth.json',
    ]);
    const truth = JSON.parse(await readFile(day.truthPath, 'utf8')) as Truth;
    assert.deepEqual(truth, day.truth);
    const clips = Object.values(truth.clips);
    assert.equal(clips.length, 9 + 4);
    for (const c of clips.filter((c) => c.kind === 'speech')) {
      assert.ok(c.language && SENTENCES[c.language].includes(c.sentence as string));
    }
    const kinds = new Set(clips.map((c) => c.kind));
    for (const k of ['speech', 'music', 'silence', 'none']) assert.ok(kinds.has(k as never), k);
    const languages = new Set(clips.map((c) => c.language).filter(Boolean));
    for (const l of ['en', 'de', 'es', 'fr']) assert.ok(languages.has(l as never), l);
    const byDefect = Object.fromEntries(clips.filter((c) => c.defect).map((c) => [c.defect, c]));
    assert.equal(byDefect.corruptMp3.expect, 'failed');
    assert.equal(byDefect.emptyMp3.expect, 'failed');
    assert.equal(byDefect.rowWithoutClip.audioFile, null);
    assert.equal(byDefect.clipWithoutRow.hasRow, false);
    assert.equal(byDefect.clipWithoutRow.expect, 'ok');
  });

  test('metadata.parquet has the 99 contract columns with the contract’s physical and logical types', async () => {
    const report = await extractArchive(day.archives[0], path.join(tmp, 'x0'), {
      maxEntryBytes: 1e9,
      maxTotalBytes: 1e10,
    });
    assert.ok(report.metadataPath);
    const bytes = await readFile(report.metadataPath);
    const meta = parquetMetadata(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    );
    const truth = day.truth.archives['2024-05-01_00-00'];
    assert.equal(Number(meta.num_rows), truth.clips.filter((id) => day.truth.clips[id].hasRow).length);
    const schema = meta.schema;
    assert.equal(schema[0].num_children, 99);
    let i = 1;
    for (const [name, type] of CONTRACT_COLUMNS) {
      const el = schema[i];
      assert.equal(el.name, name);
      switch (type) {
        case 'string':
          assert.equal(el.type, 'BYTE_ARRAY', name);
          assert.equal(el.converted_type, 'UTF8', name);
          break;
        case 'timestamp':
          assert.equal(el.type, 'INT64', name);
          assert.equal(el.converted_type, 'TIMESTAMP_MILLIS', name);
          assert.deepEqual(
            el.logical_type,
            { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
            name,
          );
          break;
        case 'int32':
        case 'int64':
        case 'double':
          assert.equal(el.type, type.toUpperCase(), name);
          break;
        case 'bool':
          assert.equal(el.type, 'BOOLEAN', name);
          break;
        case 'list':
          assert.equal(el.converted_type, 'LIST', name);
          assert.equal(el.num_children, 1);
          assert.equal(schema[i + 1].repetition_type, 'REPEATED');
          assert.equal(schema[i + 2].name, 'element');
          assert.equal(schema[i + 2].type, 'BYTE_ARRAY');
          assert.equal(schema[i + 2].converted_type, 'UTF8');
          i += 2;
          break;
      }
      i++;
    }
    assert.equal(i, schema.length);
  });

  test('clips are MP3, 44.1 kHz stereo, 64–128 kbps, 2–6.5 s (defective ones aside)', async () => {
    const dest = path.join(tmp, 'x1');
    const report = await extractArchive(day.archives[1], dest, { maxEntryBytes: 1e9, maxTotalBytes: 1e10 });
    assert.equal(report.audioFiles.length, 3);
    for (const file of report.audioFiles) {
      const info = await probe(file);
      assert.equal(info.streams[0].codec_name, 'mp3');
      assert.equal(info.streams[0].sample_rate, '44100');
      assert.equal(info.streams[0].channels, 2);
      const duration = Number(info.format.duration);
      assert.ok(duration >= 2 && duration <= 6.5, `${file}: ${duration} s`);
      const kbps = Number(info.format.bit_rate) / 1000;
      assert.ok(kbps >= 60 && kbps <= 135, `${file}: ${kbps} kbps`);
    }
  });

  test('is deterministic for a seed and date; another seed gives other ids', async () => {
    const again = await generateDay({
      date: '2024-05-01',
      archives: 3,
      clipsPerArchive: 3,
      outDir: path.join(tmp, 'b'),
      seed: 3,
      defects: { corruptMp3: true, emptyMp3: true, rowWithoutClip: true, clipWithoutRow: true },
    });
    for (let i = 0; i < day.archives.length; i++)
      assert.equal(await sha(again.archives[i]), await sha(day.archives[i]));
    assert.deepEqual(again.truth, day.truth);
    const other = await generateDay({
      date: '2024-05-01',
      archives: 1,
      clipsPerArchive: 2,
      outDir: path.join(tmp, 'c'),
      seed: 4,
    });
    const ids = new Set(Object.keys(day.truth.clips));
    assert.ok(Object.keys(other.truth.clips).every((id) => !ids.has(id)));
  });

  test("audioPool: later clips copy a pooled clip's audio under their own id and row", async () => {
    const out = path.join(tmp, 'pool');
    const pooled = await generateDay({
      date: '2024-05-03',
      archives: 2,
      clipsPerArchive: 3,
      outDir: out,
      seed: 5,
      audioPool: 2,
    });
    const clips = Object.values(pooled.truth.clips);
    assert.equal(new Set(clips.map((c) => c.id)).size, 6);
    const fileById = new Map<string, string>();
    for (const [i, archive] of pooled.archives.entries()) {
      const report = await extractArchive(archive, path.join(tmp, `pool-x${i}`), {
        maxEntryBytes: 1e9,
        maxTotalBytes: 1e10,
      });
      for (const file of report.audioFiles) fileById.set(path.basename(file, '.mp3'), file);
    }
    const hashes = await Promise.all(clips.map((c) => sha(fileById.get(c.id) as string)));
    // Clips 0 and 1 are the pool; clip n is a copy of clip n mod 2, kind and sentence too.
    for (let n = 2; n < 6; n++) {
      assert.equal(hashes[n], hashes[n % 2], `clip ${n}`);
      assert.equal(clips[n]!.kind, clips[n % 2]!.kind);
      assert.equal(clips[n]!.sentence, clips[n % 2]!.sentence);
    }
    assert.notEqual(hashes[0], hashes[1]);
  });

  test('truth.json accumulates the days written to one folder', async () => {
    const dir = path.join(tmp, 'c');
    await generateDay({ date: '2024-05-02', archives: 1, clipsPerArchive: 1, outDir: dir, seed: 4 });
    const truth = JSON.parse(await readFile(path.join(dir, 'truth.json'), 'utf8')) as Truth;
    assert.deepEqual(Object.keys(truth.archives).sort(), ['2024-05-01_00-00', '2024-05-02_00-00']);
  });
});
