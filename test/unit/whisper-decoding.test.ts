import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../lib/random.ts';
import {
  ApplyTimestampRules,
  compressionRatio,
  DecodingTask,
  detectLanguage,
  logSumExp,
  noSpeechProbability,
  SuppressBlank,
  SuppressTokens,
} from '../../lib/whisper/decoding.ts';
import { Tokenizer } from '../../lib/whisper/tokenizer.ts';

// A toy vocabulary with Whisper's special-token layout: 4 text tokens, then <|endoftext|>,
// <|startoftranscript|>, two languages, the task and prompt tokens, and 1501 timestamps.
function toyTokenizer(): Tokenizer {
  const specials = [
    '<|endoftext|>',
    '<|startoftranscript|>',
    '<|en|>',
    '<|de|>',
    '<|translate|>',
    '<|transcribe|>',
    '<|startoflm|>',
    '<|startofprev|>',
    '<|nospeech|>',
    '<|notimestamps|>',
  ];
  for (let i = 0; i <= 1500; i++) specials.push(`<|${(i * 0.02).toFixed(2)}|>`);
  return new Tokenizer(
    {
      model: { vocab: { a: 0, b: 1, Ġ: 2, Ġa: 3 }, merges: [['Ġ', 'a']] },
      added_tokens: specials.map((content, i) => ({ id: 4 + i, content, special: true })),
    },
    { isMultilingual: true },
  );
}

const tok = toyTokenizer();
const V = tok.timestampBegin + 1501;
const TB = tok.timestampBegin;
const ts = (i: number) => TB + i;
const zeros = () => new Float32Array(V);

test('toy tokenizer layout', () => {
  assert.equal(tok.eot, 4);
  assert.equal(tok.sot, 5);
  assert.deepEqual(tok.languageCodes, ['en', 'de']);
  assert.equal(tok.noSpeech, 12);
  assert.equal(TB, 14);
  assert.deepEqual(tok.encode(' a'), [3]);
  assert.deepEqual(tok.encode(' '), [2]);
  assert.deepEqual(tok.sotSequence('de'), [5, 7, 9]);
});

test('SuppressBlank forbids a blank and EOT as the first token only', () => {
  const f = new SuppressBlank(tok, 3);
  const l = zeros();
  f.apply(l, [5, 6, 9]);
  assert.equal(l[2], -Infinity);
  assert.equal(l[tok.eot], -Infinity);
  assert.equal(l[0], 0);
  const m = zeros();
  f.apply(m, [5, 6, 9, 0]);
  assert.equal(m[2], 0);
  assert.equal(m[tok.eot], 0);
});

test('SuppressTokens', () => {
  const l = zeros();
  new SuppressTokens([1, 12]).apply(l);
  assert.equal(l[1], -Infinity);
  assert.equal(l[12], -Infinity);
  assert.equal(l[0], 0);
});

test('ApplyTimestampRules: the first token is a timestamp of at most 1.0 s', () => {
  const f = new ApplyTimestampRules(tok, 3, 50);
  const l = zeros();
  f.apply(l, [5, 6, 9]);
  for (let i = 0; i < TB; i++) assert.equal(l[i], -Infinity, `text token ${i}`);
  assert.equal(l[ts(0)], 0);
  assert.equal(l[ts(50)], 0);
  assert.equal(l[ts(51)], -Infinity);
  assert.equal(l[tok.noTimestamps], -Infinity);
});

test('ApplyTimestampRules: pairs, monotonic, non-zero length', () => {
  const f = new ApplyTimestampRules(tok, 3, 50);
  // after an opening timestamp: text must follow
  let l = zeros();
  l[0] = 5; // make text likelier than timestamps so the sum rule does not interfere
  f.apply(l, [5, 6, 9, ts(10)]);
  assert.equal(l[ts(10)], -Infinity);
  assert.equal(l[ts(1500)], -Infinity);
  assert.equal(l[0], 5);
  // after text: timestamps before or at the opening one are forbidden (segments have a length)
  l = zeros();
  l[0] = 10; // above log Σ over the 1490 allowed timestamps (≈ 7.3)
  f.apply(l, [5, 6, 9, ts(10), 0]);
  assert.equal(l[ts(10)], -Infinity);
  assert.equal(l[ts(11)], 0);
  assert.equal(l[0], 10);
  // after a closing timestamp: no text (a timestamp or EOT comes next); the same time may open
  l = zeros().fill(-10, TB); // timestamps unlikely, so that the sum rule leaves EOT alone
  f.apply(l, [5, 6, 9, ts(10), 0, ts(20)]);
  assert.equal(l[0], -Infinity);
  assert.equal(l[tok.eot], 0);
  assert.equal(l[ts(19)], -Infinity);
  assert.equal(l[ts(20)], -10);
  // two timestamps in a row: text must follow
  l = zeros();
  l[0] = 5;
  f.apply(l, [5, 6, 9, ts(10), 0, ts(20), ts(20)]);
  assert.equal(l[ts(25)], -Infinity);
  assert.equal(l[0], 5);
});

test('ApplyTimestampRules: timestamps win when their total probability beats every text token', () => {
  const f = new ApplyTimestampRules(tok, 3, 50);
  const l = new Float32Array(V).fill(-5);
  l[0] = 0; // best text token
  for (let i = 30; i < 40; i++) l[ts(i)] = -1; // ten timestamps, log Σ = -1 + ln 10 > 0
  f.apply(l, [5, 6, 9, ts(10), 0]);
  assert.equal(l[0], -Infinity);
  assert.equal(l[ts(35)], -1);
});

test('language detection and no-speech probability from the SOT logits', () => {
  const l = new Float32Array(V).fill(-10);
  l[6] = 1; // en
  l[7] = 3; // de
  l[0] = 50; // a text token is not a language
  l[tok.noSpeech] = 2;
  const { language, probs } = detectLanguage(l, tok);
  assert.equal(language, 'de');
  assert.ok(Math.abs(probs.de - Math.exp(3) / (Math.exp(1) + Math.exp(3))) < 1e-6);
  assert.ok(Math.abs(probs.en + probs.de - 1) < 1e-9);
  const p = noSpeechProbability(l, tok);
  assert.ok(Math.abs(p - Math.exp(2 - logSumExp(l))) < 1e-9);
});

test('logSumExp (a polynomial exp) agrees with Math.exp to 1e-7 over vocabulary-sized rows', () => {
  const rand = mulberry32(7);
  for (const spread of [1, 10, 30, 80]) {
    const row = Float32Array.from({ length: 51865 }, () => (rand() - 0.5) * spread);
    row[100] = -Infinity; // suppressed
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let s = 0;
    for (const v of row) if (v !== -Infinity) s += Math.exp(v - max);
    assert.ok(Math.abs(logSumExp(row) - (max + Math.log(s))) < 1e-7, `spread ${spread}`);
  }
  assert.equal(logSumExp(new Float32Array(4).fill(-Infinity)), -Infinity);
  assert.ok(Math.abs(logSumExp(Float32Array.of(0, 0)) - Math.LN2) < 1e-7);
});

test('DecodingTask: detected language written into the SOT sequence, greedy steps, average log probability', () => {
  const task = new DecodingTask(tok, { temperature: 0, suppressTokens: [] });
  assert.deepEqual(task.initialTokens, [5, 6, 9]);
  const sot = new Float32Array(V).fill(-10);
  sot[7] = 5;
  task.observeSot(sot);
  assert.equal(task.language, 'de');
  assert.deepEqual(task.initialTokens, [5, 7, 9]);
  const step = (best: number) => {
    const l = new Float32Array(V).fill(-20);
    l[best] = 0;
    return task.step(l);
  };
  assert.equal(step(ts(0)), ts(0));
  assert.equal(step(3), 3);
  assert.equal(step(ts(25)), ts(25));
  assert.equal(step(tok.eot), tok.eot);
  assert.ok(task.done);
  const r = task.result();
  assert.deepEqual(r.tokens, [ts(0), 3, ts(25)]);
  assert.equal(r.text, 'a');
  assert.equal(r.language, 'de');
  assert.ok(r.avgLogprob < 0 && r.avgLogprob > -0.01, `${r.avgLogprob}`);
});

test('DecodingTask without timestamps: no timestamp token, word probabilities, the attention of the positions fed', () => {
  const task = new DecodingTask(tok, {
    temperature: 0,
    suppressTokens: [],
    language: 'en',
    withoutTimestamps: true,
    attentionFrames: 3,
  });
  assert.deepEqual(task.initialTokens, [5, 6, 9, tok.noTimestamps]);
  const l = new Float32Array(V).fill(-20);
  l[ts(3)] = 5; // likeliest, but not a text token
  l[1] = 0;
  l[0] = Math.log(3); // P(a) = 3/4, P(b) = 1/4 over the text tokens
  assert.equal(task.step(l), 0);
  const end = new Float32Array(V).fill(-20);
  end[tok.eot] = 0;
  assert.equal(task.step(end), tok.eot);
  const r = task.result();
  assert.deepEqual(r.tokens, [0]);
  assert.equal(r.tokenProbs?.length, 1);
  assert.ok(Math.abs((r.tokenProbs?.[0] ?? 0) - 0.75) < 1e-4, `${r.tokenProbs}`);
  // keepAttention: [B=1, H=2, T, n_audio_ctx=4] for layer 0; head [0, 1] kept, first 3 frames
  const att = (T: number, base: number) =>
    new Map([[0, Float32Array.from({ length: 2 * T * 4 }, (_, i) => base + i)]]);
  const fresh = new DecodingTask(tok, {
    language: 'en',
    suppressTokens: [],
    withoutTimestamps: true,
    attentionFrames: 3,
  });
  fresh.keepAttention(att(4, 0), [[0, 1]], { nHeads: 2, nAudioCtx: 4, T: 4 }, 0); // the SOT sequence: 4 positions
  assert.equal(fresh.attention.length, 4);
  assert.deepEqual([...fresh.attention[1]], [20, 21, 22]); // head 1, position 1: (1*4 + 1)*4
  fresh.step(l); // a token sampled and fed next
  fresh.keepAttention(att(1, 100), [[0, 1]], { nHeads: 2, nAudioCtx: 4, T: 1 }, 0);
  assert.equal(fresh.attention.length, 5);
  fresh.step(end); // done: <|endoftext|> is never fed, so nothing more is kept
  fresh.keepAttention(att(1, 200), [[0, 1]], { nHeads: 2, nAudioCtx: 4, T: 1 }, 0);
  assert.equal(fresh.attention.length, 5);
});

test('DecodingTask: a pinned language is kept; the sampler is seeded', () => {
  const t1 = new DecodingTask(tok, { language: 'en', temperature: 1, seed: 7, suppressTokens: [] });
  const t2 = new DecodingTask(tok, { language: 'en', temperature: 1, seed: 7, suppressTokens: [] });
  const sot = new Float32Array(V).fill(-10);
  sot[7] = 5;
  t1.observeSot(sot);
  t2.observeSot(sot);
  assert.equal(t1.language, 'en');
  assert.deepEqual(t1.initialTokens, [5, 6, 9]);
  for (let i = 0; i < 10; i++) {
    const l = new Float32Array(V).map((_, j) => Math.sin(j * (i + 1)));
    assert.equal(t1.step(new Float32Array(l)), t2.step(new Float32Array(l)));
  }
  assert.throws(() => new DecodingTask(tok, { language: 'xx', suppressTokens: [] }), /unknown language/);
});

test('compression ratio flags repetition', () => {
  assert.ok(compressionRatio('the cat sat on the mat') < 1.5);
  assert.ok(compressionRatio('thank you '.repeat(30)) > 2.4);
  assert.equal(compressionRatio(''), 0);
});
