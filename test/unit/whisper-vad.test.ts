/**
 * The VAD's rules, on made-up speech probabilities (lib/whisper/vad.ts): regions from frames,
 * the pauses that end them, the split of a region before 30 s, padding, and WhisperX-style chunks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLE_RATE } from '../../lib/whisper/audio.ts';
import { DEFAULT_VAD_OPTIONS, mergeIntoChunks, speechRegions, VAD_FRAME } from '../../lib/whisper/vad.ts';

/** Probabilities for `seconds` of audio, `p` inside the given [start, end) second ranges, else 0.02. */
function probs(seconds: number, speech: Array<[number, number]>, p = 0.9): Float32Array {
  const out = new Float32Array(Math.ceil((seconds * SAMPLE_RATE) / VAD_FRAME)).fill(0.02);
  for (const [a, b] of speech) {
    for (let i = Math.ceil((a * SAMPLE_RATE) / VAD_FRAME); (i * VAD_FRAME) / SAMPLE_RATE < b; i++) out[i] = p;
  }
  return out;
}
const sec = (samples: number) => samples / SAMPLE_RATE;
const PAD = DEFAULT_VAD_OPTIONS.speechPadMs / 1000;

test('two stretches of speech apart: two regions, each padded by 400 ms', () => {
  const regions = speechRegions(
    probs(20, [
      [2, 5],
      [10, 14],
    ]),
    20 * SAMPLE_RATE,
  );
  assert.equal(regions.length, 2);
  const frame = VAD_FRAME / SAMPLE_RATE;
  assert.ok(Math.abs(sec(regions[0].start) - (2 - PAD)) <= frame);
  assert.ok(Math.abs(sec(regions[0].end) - (5 + PAD)) <= frame);
  assert.ok(Math.abs(sec(regions[1].start) - (10 - PAD)) <= frame);
  assert.ok(Math.abs(sec(regions[1].end) - (14 + PAD)) <= frame);
});

test('a pause shorter than the minimum silence does not end a region; padding stays within the clip', () => {
  const regions = speechRegions(
    probs(6, [
      [0, 2],
      [2.1, 6],
    ]),
    6 * SAMPLE_RATE,
  );
  assert.deepEqual(regions, [{ start: 0, end: 6 * SAMPLE_RATE }]);
});

test('regions closer than twice the padding share the gap between them', () => {
  const regions = speechRegions(
    probs(10, [
      [1, 3],
      [3.5, 6],
    ]),
    10 * SAMPLE_RATE,
  );
  assert.equal(regions.length, 2);
  assert.equal(regions[0].end, regions[1].start, 'the gap is split, not padded over');
});

test('probabilities between the two thresholds continue speech but do not start it', () => {
  const p = probs(8, [[1, 3]]);
  for (let i = Math.ceil((3 * SAMPLE_RATE) / VAD_FRAME); i < p.length; i++) p[i] = 0.4;
  const regions = speechRegions(p, 8 * SAMPLE_RATE);
  assert.equal(regions.length, 1);
  assert.equal(regions[0].end, 8 * SAMPLE_RATE, '0.4 (≥ 0.35) keeps the region open to the end');
  assert.deepEqual(speechRegions(new Float32Array(100).fill(0.4), 100 * VAD_FRAME), []);
});

test('a region is split before 30 s: at its last pause, or hard when there is none', () => {
  const withPause = speechRegions(
    probs(70, [
      [0, 20],
      [20.15, 60],
    ]),
    70 * SAMPLE_RATE,
  );
  assert.ok(withPause.length >= 2);
  assert.ok(Math.abs(sec(withPause[0].end) - 20) < 0.5, `split at the pause: ${sec(withPause[0].end)}`);
  const noPause = speechRegions(probs(70, [[0, 70]]), 70 * SAMPLE_RATE);
  for (const r of [...withPause, ...noPause])
    assert.ok(sec(r.end - r.start) <= 30, `${sec(r.start)}–${sec(r.end)} within 30 s`);
  assert.ok(noPause.length >= 3);
});

test('silence and empty audio give no regions', () => {
  assert.deepEqual(speechRegions(probs(10, []), 10 * SAMPLE_RATE), []);
  assert.deepEqual(speechRegions(new Float32Array(0), 0), []);
});

test('chunks join consecutive regions while they span at most the limit', () => {
  const r = (a: number, b: number) => ({ start: a * SAMPLE_RATE, end: b * SAMPLE_RATE });
  const chunks = mergeIntoChunks([r(1, 5), r(8, 20), r(25, 32), r(33, 40), r(70, 99)], 30 * SAMPLE_RATE);
  assert.deepEqual(chunks, [r(1, 20), r(25, 40), r(70, 99)]);
  assert.deepEqual(mergeIntoChunks([], 30 * SAMPLE_RATE), []);
});
