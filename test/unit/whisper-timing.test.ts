/**
 * The pieces of word timing (lib/whisper/timing.ts) on small inputs whose answers are known:
 * DTW, the median filter, word splitting, punctuation merging, moving word edges off pauses,
 * and where the alignment heads come from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../lib/random.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  alignmentHeads,
  dtw,
  medianFilterRow,
  mergePunctuation,
  splitToWords,
  trimSilence,
  type Timed,
} from '../../lib/whisper/timing.ts';
import * as ort from 'onnxruntime-node';
import { WhisperModel } from '../../lib/whisper/model.ts';
import { Tokenizer } from '../../lib/whisper/tokenizer.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

test('dtw follows the cheap cells: each row takes the columns where it costs least', () => {
  // rows 0, 1, 2 are cheap at columns 0-1, 2-4, 5 respectively
  const N = 3;
  const M = 6;
  const cheap = [
    [0, 1],
    [2, 4],
    [5, 5],
  ];
  const cost = new Float64Array(N * M).fill(1);
  cheap.forEach(([a, b], r) => {
    for (let c = a; c <= b; c++) cost[r * M + c] = -1;
  });
  const { text, time } = dtw(cost, N, M);
  assert.deepEqual([...time], [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...text], [0, 0, 1, 1, 1, 2]);
});

test('medianFilterRow: width 7 with reflect padding, like a sorted sliding window', () => {
  const row = Float32Array.from([5, 1, 9, 3, 7, 2, 8, 4, 6, 0]);
  const expected = [...row].map((_, i) => {
    const at = (k: number) => row[k < 0 ? -k : k >= row.length ? 2 * (row.length - 1) - k : k];
    const win = [-3, -2, -1, 0, 1, 2, 3].map((d) => at(i + d)).sort((a, b) => a - b);
    return win[3];
  });
  const filtered = Float32Array.from(row);
  medianFilterRow(filtered, 7);
  assert.deepEqual([...filtered], expected);
  // the width-7 selection network against a sort, on every 0/1 pattern of a window (which
  // proves a comparator network) and on random rows with ties
  const sortedMedian = (r: Float32Array, w: number) =>
    [...r].map((_, i) => {
      const pad = (w - 1) / 2;
      const at = (k: number) => r[k < 0 ? -k : k >= r.length ? 2 * (r.length - 1) - k : k];
      return Array.from({ length: w }, (_, d) => at(i - pad + d)).sort((a, b) => a - b)[pad];
    });
  for (let bits = 0; bits < 128; bits++) {
    const r = Float32Array.from({ length: 7 }, (_, k) => (bits >> k) & 1);
    const f = Float32Array.from(r);
    medianFilterRow(f, 7);
    assert.deepEqual([...f], sortedMedian(r, 7), `pattern ${bits}`);
  }
  const rand = mulberry32(3);
  for (let k = 0; k < 50; k++) {
    const r = Float32Array.from({ length: 40 }, () => Math.round(rand() * 10) / 2);
    const f = Float32Array.from(r);
    medianFilterRow(f, 7);
    assert.deepEqual([...f], sortedMedian(r, 7));
    const f5 = Float32Array.from(r);
    medianFilterRow(f5, 5); // other widths: the sorted window
    assert.deepEqual([...f5], sortedMedian(r, 5));
  }
  const short = Float32Array.from([3, 1, 2]);
  medianFilterRow(short, 7); // too short to pad: unchanged, as timing.py
  assert.deepEqual([...short], [3, 1, 2]);
});

test('splitToWords: words start at a space or punctuation; no-space languages split per character', () => {
  const tok = Tokenizer.fromModelDir(whisperModelDir('base'));
  const words = splitToWords(tok, tok.encode(' Hello, wonderful world!'), 'en');
  assert.deepEqual(
    words.map((w) => w.word),
    [' Hello', ',', ' wonderful', ' world', '!'],
  );
  assert.deepEqual(
    words.flatMap((w) => w.tokens),
    tok.encode(' Hello, wonderful world!'),
  );
  const zh = splitToWords(tok, tok.encode('你好世界'), 'zh');
  assert.equal(zh.map((w) => w.word).join(''), '你好世界');
  // one piece per token group that decodes to whole characters, not merged into one word
  assert.ok(zh.length >= 2 && zh.every((w) => !w.word.includes('\uFFFD')), JSON.stringify(zh));
});

const timed = (word: string, start: number, end: number, tokens = [1]): Timed => ({
  word,
  tokens,
  start,
  end,
  probability: 1,
});

test('mergePunctuation: opening quotes join the next word, closing punctuation the previous one', () => {
  const words = [timed(' "', 0, 0.1), timed('Hi', 0.1, 0.4), timed('.', 0.4, 0.5), timed('"', 0.5, 0.5)];
  mergePunctuation(words);
  assert.deepEqual(
    words.map((w) => [w.word, w.tokens.length]),
    [
      ['', 0],
      [' "Hi."', 4],
      ['', 0],
      ['', 0],
    ],
  );
});

test('trimSilence: a word whose span starts with the previous word and a pause keeps its own sound', () => {
  // 20 ms positions: sound 0-9, pause 10-29, sound 30-49, pause 50-59
  const loud = new Float32Array(60).fill(-0.7);
  for (let p = 0; p < 10; p++) loud[p] = 0.3;
  for (let p = 30; p < 50; p++) loud[p] = 0.3;
  // the DTW gave "one" 0-0.16 s and "two" from 0.16 s (the pause and its sound) to 0.9 s
  const words = [timed(' one', 0, 0.16), timed(' two', 0.16, 0.9)];
  trimSilence(words, loud);
  assert.deepEqual(
    words.map((w) => [w.start, w.end]),
    [
      [0, 0.2], // the ends reach over the sound right after them, which no word took
      [0.6, 1],
    ],
  );
  // a quiet recording (less than 20 dB of range) is left alone
  const flat = [timed(' one', 0, 0.16), timed(' two', 0.16, 0.9)];
  trimSilence(
    flat,
    loud.map((x) => x * 0.2),
  );
  assert.deepEqual(
    flat.map((w) => [w.start, w.end]),
    [
      [0, 0.16],
      [0.16, 0.9],
    ],
  );
});

test('alignmentHeads: from config.json, else every head of the upper half of the layers', () => {
  assert.deepEqual(alignmentHeads(whisperModelDir('base'), 6, 8).slice(0, 2), [
    [3, 1],
    [4, 2],
  ]);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heads-'));
  try {
    writeFileSync(path.join(dir, 'config.json'), '{}');
    assert.deepEqual(alignmentHeads(dir, 4, 2), [
      [2, 0],
      [2, 1],
      [3, 0],
      [3, 1],
    ]);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ alignment_heads: [[4, 0]] }));
    assert.throws(() => alignmentHeads(dir, 4, 2), /alignment_heads entry \[4,0\] is not a \[layer, head\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('crossAttentions: the split and merged decoders give the same softmax rows and logits as decode', async () => {
  const modelDir = whisperModelDir('tiny.en');
  const tok = Tokenizer.fromModelDir(modelDir);
  const [split, merged] = await Promise.all(
    (['split', 'merged'] as const).map((decoderMode) =>
      WhisperModel.load({ modelDir, threads: 1, decoderMode }),
    ),
  );
  try {
    assert.equal(split.decoderMode, 'split');
    assert.equal(merged.decoderMode, 'merged');
    const { nAudioCtx, nAudioState, nTextHead, nVocab } = split.dims;
    const features = new ort.Tensor(
      'float32',
      new Float32Array(nAudioCtx * nAudioState).map((_, i) => Math.sin(i * 0.37) * 0.5),
      [1, nAudioCtx, nAudioState],
    );
    const ids = [tok.sot, tok.noTimestamps, ...tok.encode(' Hello world.'), tok.eot];
    const tokens = BigInt64Array.from(ids, (t) => BigInt(t));
    const a = await split.crossAttentions(tokens, 1, features, [1, 3]);
    const b = await merged.crossAttentions(tokens, 1, features, [1, 3]);
    const T = ids.length;
    for (const layer of [1, 3]) {
      const att = a.attentions.get(layer) as Float32Array;
      assert.equal(att.length, nTextHead * T * nAudioCtx);
      for (let row = 0; row < nTextHead * T; row++) {
        const sum = att.subarray(row * nAudioCtx, (row + 1) * nAudioCtx).reduce((x, y) => x + y, 0);
        assert.ok(Math.abs(sum - 1) < 1e-4, `layer ${layer} row ${row} sums to ${sum}`);
      }
      const other = b.attentions.get(layer) as Float32Array;
      assert.ok(
        att.every((x, i) => Math.abs(x - other[i]) < 1e-5),
        `layer ${layer}: split = merged`,
      );
    }
    // the same logits as the decoding loop's own pass over these tokens
    const { logits } = await split.decode(tokens, 1, features);
    const last = (T - 1) * nVocab;
    for (let v = 0; v < nVocab; v += 997)
      assert.ok(Math.abs(logits[last + v] - a.logits[last + v]) < 1e-3, `logit ${v}`);
  } finally {
    await Promise.all([split.release(), merged.release()]);
  }
});
