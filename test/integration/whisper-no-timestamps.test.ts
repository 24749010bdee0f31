/**
 * `segmentTimestamps: false` (the bench engine ours-notimestamps, faster-whisper batched's way):
 * windows are decoded with <|notimestamps|>, so a window's text is one segment spanning it, and
 * the text is the same speech as with timestamps. With the real tiny.en model and jfk.flac.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../lib/errors.ts';
import { WhisperEngine, type TranscriptionResult } from '../../lib/whisper/transcribe.ts';
import { wordErrorRate } from '../../lib/whisper/wer.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

const JFK_FILE = fileURLToPath(new URL('../fixtures/whisper/jfk.flac', import.meta.url));
const JFK =
  'And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';

let withTs: WhisperEngine;
let withoutTs: WhisperEngine;
before(async () => {
  const modelDir = whisperModelDir('tiny.en');
  withTs = await WhisperEngine.load({ modelDir, threads: 2 });
  withoutTs = await WhisperEngine.load({ modelDir, threads: 2, segmentTimestamps: false });
});
after(async () => {
  await withTs?.close();
  await withoutTs?.close();
});

test('without timestamps: one segment spanning the window, the same speech', async () => {
  const [a] = (await withTs.transcribeFiles([JFK_FILE])) as TranscriptionResult[];
  const [b] = (await withoutTs.transcribeFiles([JFK_FILE])) as TranscriptionResult[];
  assert.ok(a.segments.length > 1, `with timestamps the model cuts jfk into sentences: ${a.segments.length}`);
  assert.equal(b.segments.length, 1, JSON.stringify(b.segments));
  assert.equal(b.segments[0].start, 0);
  assert.equal(b.segments[0].end, b.duration_s, 'the segment ends where the clip (its only window) ends');
  assert.ok(!/<\|/.test(b.text), b.text);
  assert.ok(wordErrorRate(JFK, b.text) <= 0.1, b.text);
  assert.ok(wordErrorRate(a.text, b.text) <= 0.1, `${a.text} | ${b.text}`);
});

test('word timestamps need the segment timestamps', async () => {
  await assert.rejects(
    WhisperEngine.load({
      modelDir: whisperModelDir('tiny.en'),
      threads: 2,
      segmentTimestamps: false,
      wordTimestamps: true,
    }),
    ConfigError,
  );
});
