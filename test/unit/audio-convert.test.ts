import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { convertAll, convertToOpus } from '../../lib/audio/convert.ts';
import { resolveFfmpegPath } from '../../lib/audio/ffmpeg-path.ts';
import { BadInputError } from '../../lib/errors.ts';
import { probe, writeAudioInputs } from '../support/audio-files.ts';

const ffmpegPath = resolveFfmpegPath(process.env.FFMPEG_PATH);
let tmp: string;
let mp3: string; // 3 s, 44.1 kHz stereo, with a title tag
let empty: string;
let corrupt: string;

/** OpusHead (RFC 7845 §5.1): channel count and the encoder's input sample rate. */
async function opusHead(file: string): Promise<{ channels: number; inputRate: number }> {
  const bytes = await readFile(file);
  const at = bytes.indexOf('OpusHead');
  return { channels: bytes[at + 9], inputRate: bytes.readUInt32LE(at + 12) };
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'convert-test-'));
  ({ mp3, empty, corrupt } = await writeAudioInputs(tmp, ffmpegPath));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('convertToOpus', () => {
  test('produces Opus, mono, 16 kHz, without the source metadata, written atomically', async () => {
    const out = path.join(tmp, 'opus', 'tone.opus');
    const result = await convertToOpus(mp3, out, { ffmpegPath });
    const info = await probe(out);
    assert.equal(info.streams.length, 1);
    assert.equal(info.streams[0].codec_name, 'opus');
    assert.equal(info.streams[0].channels, 1);
    // Opus always decodes at 48 kHz; the encoder's input rate is recorded in OpusHead.
    assert.deepEqual(await opusHead(out), { channels: 1, inputRate: 16000 });
    assert.equal(info.format.tags?.title ?? info.format.tags?.TITLE, undefined);
    assert.ok(Math.abs(result.durationS - 3) < 0.05, `duration ${result.durationS}`);
    assert.ok(Math.abs(Number(info.format.duration) - result.durationS) < 0.05);
    assert.equal(result.bytes, (await stat(out)).size);
    assert.equal(
      result.sha256,
      createHash('sha256')
        .update(await readFile(out))
        .digest('hex'),
    );
    assert.ok(result.bytes < 20_000, `32 kbps for 3 s is about 12 kB, got ${result.bytes}`);
    assert.deepEqual(await readdir(path.dirname(out)), ['tone.opus'], 'no temp file left');
  });

  test('converting again gives the same file', async () => {
    const out = path.join(tmp, 'again', 'tone.opus');
    const first = await convertToOpus(mp3, out, { ffmpegPath });
    const second = await convertToOpus(mp3, out, { ffmpegPath });
    assert.deepEqual(second, first);
  });

  test('an empty MP3 is BadInputError naming it', async () => {
    const out = path.join(tmp, 'bad', 'empty.opus');
    await assert.rejects(convertToOpus(empty, out, { ffmpegPath }), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.ok(err.message.includes(empty));
      assert.match(err.message, /empty/);
      return true;
    });
    assert.equal(existsSync(out), false);
  });

  test('a corrupt MP3 is BadInputError with ffmpeg’s reason, and leaves no output', async () => {
    const out = path.join(tmp, 'bad', 'corrupt.opus');
    await assert.rejects(convertToOpus(corrupt, out, { ffmpegPath }), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.ok(err.message.startsWith(`${corrupt}: `), err.message);
      assert.ok(err.message.length > corrupt.length + 10, 'carries ffmpeg’s words');
      assert.doesNotMatch(err.message, /0x[0-9a-f]{6,}/, 'no pointer noise');
      return true;
    });
    assert.deepEqual(existsSync(path.join(tmp, 'bad')) ? await readdir(path.join(tmp, 'bad')) : [], []);
  });

  test('a missing ffmpeg is a plain (retryable) error', async () => {
    await assert.rejects(
      convertToOpus(mp3, path.join(tmp, 'x.opus'), { ffmpegPath: '/nonexistent/ffmpeg' }),
      (err: unknown) => {
        assert.ok(err instanceof Error && !(err instanceof BadInputError));
        assert.match(err.message, /cannot run ffmpeg/);
        return true;
      },
    );
  });
});

describe('convertAll', () => {
  test('one outcome per item in order; failures do not stop the others', async () => {
    const items = [mp3, empty, corrupt, mp3, path.join(tmp, 'missing.mp3'), mp3].map((input, i) => ({
      input,
      output: path.join(tmp, 'all', `${i}.opus`),
    }));
    const progress: [number, number, number][] = [];
    const outcomes = await convertAll(items, {
      ffmpegPath,
      concurrency: 2,
      onProgress: (d, t, f) => progress.push([d, t, f]),
    });
    assert.equal(outcomes.length, items.length);
    outcomes.forEach((o, i) => {
      assert.equal(o.input, items[i].input);
      assert.equal(o.output, items[i].output);
    });
    const ok = outcomes.map((o) => !('error' in o));
    assert.deepEqual(ok, [true, false, false, true, false, true]);
    for (const o of outcomes) {
      if ('error' in o) {
        assert.equal(o.badInput, true);
        assert.ok(o.error.includes(o.input));
      } else {
        assert.ok(existsSync(o.output));
      }
    }
    assert.equal(progress.length, items.length);
    assert.deepEqual(progress.at(-1), [6, 6, 3]);
  });

  test('an aborted signal stops the pool and rejects', async () => {
    const controller = new AbortController();
    const items = Array.from({ length: 6 }, (_, i) => ({
      input: mp3,
      output: path.join(tmp, 'abort', `${i}.opus`),
    }));
    const pending = convertAll(items, {
      ffmpegPath,
      concurrency: 1,
      signal: controller.signal,
      onProgress: (done) => {
        if (done === 1) controller.abort(new Error('cancelled by test'));
      },
    });
    await assert.rejects(pending, /cancelled by test/);
    const written = (await readdir(path.join(tmp, 'abort'))).filter((f) => f.endsWith('.opus'));
    assert.ok(written.length < items.length, `stopped early (${written.length} written)`);
    assert.ok(
      (await readdir(path.join(tmp, 'abort'))).every((f) => !f.includes('.tmp-')),
      'no temp files left',
    );
  });
});
