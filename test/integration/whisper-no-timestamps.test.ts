/**
 * Segments without timestamp tokens (`segmentTimestamps: false`, the default with the VAD): the
 * windows are decoded with <|notimestamps|>, the words are timed from the cross-attention the
 * decoding computed, and each sentence becomes a segment spanning its words. With the real
 * tiny.en model and jfk.flac, against the engine with timestamp tokens on the same VAD chunks and
 * its own word-timing pass (timing.py's teacher-forced pass over its text).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WhisperEngine, type TranscriptionResult } from '../../lib/whisper/transcribe.ts';
import { wordErrorRate } from '../../lib/whisper/wer.ts';
import { ConfigError } from '../../lib/errors.ts';
import { vadModelFile, whisperModelDir } from '../support/whisper-models.ts';
import { matchWords } from '../support/word-clip.ts';

const JFK_FILE = fileURLToPath(new URL('../fixtures/whisper/jfk.flac', import.meta.url));
const EN2_FILE = fileURLToPath(new URL('../fixtures/whisper/speech-en2.flac', import.meta.url));
const EN2 = 'Please send me the report before Friday, because the meeting starts on Monday morning.';
const JFK =
  'And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';

/** A logger that records the windows an engine decoded (its 'whisper window' debug lines). */
function windowLogger(into: Array<{ seek: number; tries: number }>) {
  const record = (o: { seek?: number; tries?: number }, msg: string) => {
    if (msg === 'whisper window') into.push({ seek: o.seek ?? -1, tries: o.tries ?? 0 });
  };
  return { debug: record, info() {}, warn() {}, error() {} };
}

const windows: Array<{ seek: number; tries: number }> = [];
let withTs: WhisperEngine;
let withoutTs: WhisperEngine;
let dir: string;
before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'no-timestamps-'));
  const modelDir = whisperModelDir('tiny.en');
  // the same VAD chunks, decoded with timestamp tokens: its words come from timing.py's own pass
  withTs = await WhisperEngine.load({
    modelDir,
    threads: 2,
    segmentTimestamps: true,
    wordTimestamps: true,
    vadModel: vadModelFile(),
  });
  withoutTs = await WhisperEngine.load({
    modelDir,
    threads: 2,
    segmentTimestamps: false,
    wordTimestamps: true,
    vadModel: vadModelFile(),
    logger: windowLogger(windows) as never,
  });
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await withTs?.close();
  await withoutTs?.close();
});

test('without timestamp tokens: segments span their words, and the words match a pass of their own', async () => {
  assert.equal(withTs.sentenceSegments, false);
  assert.equal(withoutTs.sentenceSegments, true);
  const [a] = (await withTs.transcribeFiles([JFK_FILE])) as TranscriptionResult[];
  const [b] = (await withoutTs.transcribeFiles([JFK_FILE])) as TranscriptionResult[];
  assert.ok(!/<\|/.test(b.text), b.text);
  assert.ok(wordErrorRate(JFK, b.text) <= 0.1, b.text);
  assert.ok(wordErrorRate(a.text, b.text) <= 0.1, `${a.text} | ${b.text}`);
  // one sentence: its segment runs from the first word to the last, not over the whole window
  const words = b.segments.flatMap((s) => s.words ?? []);
  assert.ok(words.length >= 20, JSON.stringify(b.segments));
  for (const s of b.segments) {
    assert.equal(s.start, s.words?.[0].start, JSON.stringify(s));
    assert.equal(s.end, s.words?.at(-1)?.end, JSON.stringify(s));
  }
  assert.ok(b.segments[0].start > 0.1, `speech starts ~0.3 s in: ${b.segments[0].start}`);
  assert.ok(b.segments.at(-1)!.end < b.duration_s - 0.3, `and ends ~10.5 s: ${b.segments.at(-1)!.end}`);
  // the same words as timing.py's teacher-forced pass, at nearly the same times (the pass also
  // standardises over the <|endoftext|> position, which a decoding never feeds)
  const reference = a.segments.flatMap((s) => s.words ?? []);
  // each word that both decodings wrote (they may differ in a comma) starts where the other one
  // put it: the attention kept while decoding gives what timing.py's pass gives
  const pairs = matchWords(
    reference.map((w) => w.word),
    words.map((w) => w.word),
  );
  assert.ok(pairs.length >= 0.9 * words.length, `${pairs.length} of ${words.length} words in both`);
  const diffs = pairs.map(([r, w]) => Math.abs(words[w].start - reference[r].start)).sort((x, y) => x - y);
  assert.ok(diffs[Math.floor(diffs.length / 2)] <= 0.06, `median start difference ${diffs.join(' ')}`);
  assert.ok(diffs[diffs.length - 1] <= 0.3, `largest start difference ${diffs.join(' ')}`);
});

test('without the VAD (or with the in-graph decoder) there are no segments without timestamp tokens', async () => {
  const modelDir = whisperModelDir('tiny.en');
  const auto = await WhisperEngine.load({ modelDir, threads: 2 });
  try {
    assert.equal(auto.sentenceSegments, false, 'auto without the VAD: timestamp tokens');
  } finally {
    await auto.close();
  }
  await assert.rejects(WhisperEngine.load({ modelDir, threads: 2, segmentTimestamps: false }), (err) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /need the VAD/);
    return true;
  });
});

test('two sentences 3 s apart in one chunk: both decoded, each its own segment spanning its words', async () => {
  // One VAD chunk of two regions. Without timestamp tokens tiny.en ends its text after the first
  // sentence; the next window must resume where the alignment put that text's end, or the
  // second is lost.
  // (Not jfk twice: a repeated sentence is too repetitive for the compression-ratio guard at
  // temperature 0, and its text then comes from sampling: the last test.)
  const file = path.join(dir, 'jfk-pause-en2.wav');
  await promisify(execFile)('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-i', JFK_FILE, '-i', EN2_FILE],
    ...['-filter_complex', '[0:a]apad=pad_dur=3[a];[a][1:a]concat=n=2:v=0:a=1', '-ar', '16000', file],
  ]);
  windows.length = 0;
  const [r] = (await withoutTs.transcribeFiles([file])) as TranscriptionResult[];
  assert.ok(!('error' in r), JSON.stringify(r));
  assert.equal(withoutTs.vadStats.chunks, 1, 'one chunk for both sentences');
  // the second window resumed where the first text ended (~11 s: 1100 mel frames), not later
  assert.equal(windows.length, 2, JSON.stringify(windows));
  assert.ok(windows[1].seek >= 1000 && windows[1].seek <= 1400, JSON.stringify(windows));
  assert.ok(wordErrorRate(`${JFK} ${EN2}`, r.text) <= 0.1, r.text);
  // no word lost or said twice where the second window began
  const count = (t: string) => t.split(/\s+/).filter(Boolean).length;
  assert.equal(count(r.text), count(`${JFK} ${EN2}`), r.text);
  assert.ok(r.segments.length >= 2, JSON.stringify(r.segments));
  // the first sentence's segment ends before the silence, the next one starts after it
  const cut = r.segments.findIndex((s, i) => i > 0 && s.start >= 13.5);
  assert.ok(cut > 0, JSON.stringify(r.segments));
  assert.ok(r.segments[cut - 1].end <= 11.5, JSON.stringify(r.segments));
  assert.ok(r.segments[cut].start <= 14.8, JSON.stringify(r.segments));
  for (const s of r.segments) assert.ok(s.text.length > 0 && s.end > s.start, JSON.stringify(s));
});

test('a clip whose window falls back to sampling gives the same text under another name', async () => {
  // jfk twice in one chunk: too repetitive at temperature 0 (compression ratio > 2.4), so the
  // text comes from the sampled temperatures, whose seed is the clip's samples, not its path.
  const files = ['a', 'b'].map((name) => path.join(dir, `jfk-twice-${name}.wav`));
  for (const file of files) {
    await promisify(execFile)('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-i', JFK_FILE, '-i', JFK_FILE],
      ...['-filter_complex', '[0:a]apad=pad_dur=3[a];[a][1:a]concat=n=2:v=0:a=1', '-ar', '16000', file],
    ]);
  }
  const tried: Array<{ seek: number; tries: number }> = [];
  const engine = await WhisperEngine.load({
    modelDir: whisperModelDir('tiny.en'),
    threads: 2,
    vadModel: vadModelFile(),
    logger: windowLogger(tried) as never,
  });
  try {
    const [a] = (await engine.transcribeFiles([files[0]])) as TranscriptionResult[];
    assert.ok(tried.length > 0 && tried[0].tries > 0, `the window fell back: ${JSON.stringify(tried)}`);
    const [b] = (await engine.transcribeFiles([files[1]])) as TranscriptionResult[];
    assert.equal(b.text, a.text);
    assert.deepEqual(b.segments, a.segments);
  } finally {
    await engine.close();
  }
});
