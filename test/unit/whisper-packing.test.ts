/** Short clips sharing a window (lib/whisper/packing.ts): the spectrogram built, the words handed back. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { N_FRAMES } from '../../lib/whisper/audio.ts';
import {
  buildPack,
  isPackable,
  PACK_CAPACITY_FRAMES,
  PACK_GAP_FRAMES,
  packFrames,
  packLoudness,
  unpack,
  type Pack,
} from '../../lib/whisper/packing.ts';
import type { Chunk, Clip } from '../../lib/whisper/windows.ts';

const N_MELS = 2;

/**
 * A one-chunk clip of `frames` mel frames of audio, starting `offsetS` into the clip: band m of
 * frame t holds `value + m + t / 10000` in its audio and `value - 1` in its padding (N_FRAMES).
 */
function clip(
  name: string,
  frames: number,
  value: number,
  opts: { offsetS?: number; language?: string } = {},
): Chunk {
  const c: Clip = {
    index: value,
    file: name,
    durationS: 0,
    language: opts.language ?? 'en',
    languageProb: 1,
    chunks: [],
    chunksLeft: 1,
    waiting: [],
    seed: value,
  };
  const nFrames = frames + N_FRAMES;
  const data = new Float32Array(N_MELS * nFrames);
  for (let m = 0; m < N_MELS; m++)
    for (let t = 0; t < nFrames; t++) data[m * nFrames + t] = t < frames ? value + m + t / 10000 : value - 1;
  const offsetS = opts.offsetS ?? 0;
  const chunk: Chunk = {
    clip: c,
    offsetS,
    endS: offsetS + frames / 100,
    mel: { data, nMels: N_MELS, nFrames },
    contentFrames: frames,
    speech: [[10, frames - 10]],
    seek: 0,
    segments: [],
    rawText: '',
  };
  c.chunks.push(chunk);
  return chunk;
}

const at = (chunk: Chunk, m: number, t: number) => {
  const mel = chunk.mel as { data: Float32Array; nFrames: number };
  return mel.data[m * mel.nFrames + t];
};

test('a pack lays its clips one after another, each followed by its own silence', () => {
  const a = clip('a.mp3', 500, 10);
  const b = clip('b.mp3', 700, 20);
  const c = clip('c.mp3', 300, 30);
  assert.equal(packFrames([a, b, c]), 500 + 700 + 300 + 2 * PACK_GAP_FRAMES);
  const pack = buildPack([a, b, c]);
  const starts = (pack.pack as Pack).members.map((m) => m.at);
  assert.deepEqual(starts, [0, 500 + PACK_GAP_FRAMES, 1200 + 2 * PACK_GAP_FRAMES]);
  assert.equal(pack.contentFrames, 1500 + 2 * PACK_GAP_FRAMES);
  assert.equal((pack.mel as { nFrames: number }).nFrames, pack.contentFrames + N_FRAMES);
  for (let m = 0; m < N_MELS; m++) {
    assert.equal(at(pack, m, 0), 10 + m);
    assert.equal(at(pack, m, 499), Math.fround(10 + m + 499 / 10000));
    assert.equal(at(pack, m, 500), 9, 'a silence after a: its own padding');
    assert.equal(at(pack, m, starts[1] - 1), 9);
    assert.equal(at(pack, m, starts[1]), 20 + m, 'b starts at its first frame');
    assert.equal(at(pack, m, starts[2] + 299), Math.fround(30 + m + 299 / 10000));
    assert.equal(at(pack, m, starts[2] + 300), 29, "the last clip's padding to the end");
    assert.equal(at(pack, m, pack.contentFrames + N_FRAMES - 1), 29);
  }
  // the VAD's speech moves with each clip
  assert.deepEqual(pack.speech, [
    [10, 490],
    [starts[1] + 10, starts[1] + 690],
    [starts[2] + 10, starts[2] + 290],
  ]);
  assert.equal(pack.clip.language, 'en');
  assert.equal(
    buildPack([clip('x', 100, 1, { language: 'de' }), clip('y', 100, 2, { language: 'de' })]).clip.language,
    'de',
  );
  assert.throws(
    () => buildPack([clip('x', 100, 1, { language: 'de' }), clip('y', 100, 2)]),
    /one known language/,
  );
});

test("a pack's loudness is measured from each member's own floor, its silence 0 in every member", () => {
  // a's silence is at 9 and its sound at ~10.5; b's at 19 and ~20.5 (frame t adds t / 10000)
  const chunk = buildPack([clip('a', 500, 10), clip('b', 300, 20)]);
  const loud = packLoudness(chunk, 0, chunk.contentFrames + 100);
  const at = (frame: number) => loud[frame / 2];
  assert.ok(Math.abs(at(100) - 1.51) < 0.001, String(at(100))); // a's sound
  assert.equal(at(540), 0); // the second after a: its own padding
  assert.ok(Math.abs(at(600) - 1.5) < 0.001, String(at(600))); // b's first frame
  assert.equal(at(950), 0); // after b
  // a window later in the pack: the same positions of the pack, the same values
  const later = packLoudness(chunk, 100, chunk.contentFrames - 100);
  assert.equal(later[(600 - 100) / 2], loud[600 / 2]);
});

test('only a short chunk of a clip of known language is packed, and a pack ends in a second of silence', () => {
  assert.equal(isPackable(clip('short.mp3', 2000, 1)), true);
  assert.equal(isPackable(clip('long.mp3', 2001, 1)), false);
  const detecting = clip('detecting.mp3', 500, 1);
  detecting.clip.language = undefined;
  assert.equal(isPackable(detecting), false, 'a language still to detect is the clip’s own');
  // the short last stretch of a long clip is packed too
  const long = clip('long.mp3', 2900, 1);
  const tail = clip('long.mp3', 400, 1, { offsetS: 31 });
  tail.clip = long.clip;
  long.clip.chunks.push(tail);
  assert.deepEqual(
    long.clip.chunks.map((c) => isPackable(c)),
    [false, true],
  );
  assert.ok(PACK_CAPACITY_FRAMES <= N_FRAMES - 100);
});

/** A word at [start, end] seconds of the pack. */
const word = (text: string, start: number, end: number) => ({
  word: text,
  start,
  end,
  probability: 0.9,
  avgLogprob: -0.2,
  noSpeechProb: 0.01,
});

test("a pack's words go back to the clip they were said in, at the clip's own times", () => {
  const a = clip('a', 500, 1, { offsetS: 2 }); // 5 s of audio that starts 2 s into its file
  const b = clip('b', 400, 2);
  const chunk = buildPack([a, b]);
  const pack = chunk.pack as Pack;
  // b starts at 6 s of the pack; the border is the middle of the silence, 5.5 s
  pack.words.push(
    word(' Hello', 0.5, 1.0),
    word(' there.', 1.1, 4.9),
    word(' Late', 5.3, 5.6), // middle 5.45: still a's
    word(' Second', 6.2, 6.8),
    word(' clip', 7.0, 9.8),
  );
  const [ra, rb] = unpack(pack, true, 2.4);
  assert.equal(ra.alone, false);
  assert.equal(rb.alone, false);
  if (ra.alone || rb.alone) return;
  assert.equal(ra.rawText, ' Hello there. Late');
  assert.deepEqual(
    ra.segments.map((s) => [s.text, s.start, s.end]),
    [
      ['Hello there.', 2.5, 6.9],
      ['Late', 7, 7], // clamped to the chunk's end (7 s)
    ],
  );
  assert.equal(rb.rawText, ' Second clip');
  assert.deepEqual(
    rb.segments.map((s) => [s.text, s.start, s.end]),
    [['Second clip', 0.2, 3.8]],
  );
  assert.deepEqual(
    rb.segments[0].words?.map((w) => w.word),
    [' Second', ' clip'],
  );
  const [noWords] = unpack(pack, false, 2.4);
  assert.ok(!noWords.alone && noWords.segments.every((s) => s.words === undefined));
});

test('a clip the pack cannot vouch for is decoded on its own, with the reason', () => {
  const make = () => buildPack([clip('a', 500, 1), clip('b', 400, 2), clip('c', 300, 3)]);
  // b has 3.8 s of speech (the VAD's) but no word; c's only words are a phrase said on silence
  let chunk = make();
  let pack = chunk.pack as Pack;
  pack.words.push(word(' Fine', 0.2, 4.8), word(' Thank', 11.2, 11.5), word(' you.', 11.5, 13.8));
  const out = unpack(pack, false, 2.4);
  assert.deepEqual(
    out.map((o) => (o.alone ? o.reason : 'packed')),
    ['packed', 'no words for 3.8 s of speech', 'its words are a phrase written on silence or music'],
  );
  // a's words end 2.9 s before its speech does (the pack skipped a sentence); b's start 1.6 s after
  // its speech does (each plus the 0.1 s of speech at the other end)
  chunk = make();
  pack = chunk.pack as Pack;
  pack.words.push(word(' Fine', 0.2, 2), word(' Late', 7.7, 9.8), word(' Good', 11.2, 13.8));
  assert.deepEqual(
    unpack(pack, false, 2.4).map((o) => (o.alone ? o.reason : 'packed')),
    [
      '3.0 s of its speech before its first word or after its last',
      '1.7 s of its speech before its first word or after its last',
      'packed',
    ],
  );
  // a clip with less than a second of the VAD's speech may have no words
  const quiet = clip('quiet', 300, 4);
  quiet.speech = [[100, 180]];
  const two = buildPack([clip('a', 500, 1), quiet]).pack as Pack;
  two.words.push(word(' Fine', 0.2, 4.8));
  assert.deepEqual(
    unpack(two, false, 2.4).map((o) => (o.alone ? o.reason : o.rawText)),
    [' Fine', ''],
  );
  // words that could not be timed: nothing is handed back
  chunk = make();
  pack = chunk.pack as Pack;
  pack.failed = 'a window of the pack was judged non-speech';
  assert.deepEqual(
    unpack(pack, false, 2.4).map((o) => (o.alone ? o.reason : 'packed')),
    Array(3).fill('a window of the pack was judged non-speech'),
  );
  // a member whose words loop is decoded alone; clips saying the same as their neighbour are not
  chunk = make();
  pack = chunk.pack as Pack;
  const said = (from: number, step: number, text: string) =>
    text.split(' ').map((w, i) => word(` ${w}`, from + i * step, from + i * step + 0.15));
  pack.words.push(
    ...said(0.5, 0.45, 'we will go to the park in the afternoon'),
    ...said(6.5, 0.4, 'we will go to the park in the afternoon'),
    ...said(11.1, 0.17, 'so so so so so so so so so so so so so so so so'),
  );
  assert.deepEqual(
    unpack(pack, false, 2.4).map((o) => (o.alone ? o.reason.replace(/[\d.]+\)$/, 'N)') : 'packed')),
    ['packed', 'packed', 'its words repeat (compression ratio N)'],
  );
});
