/**
 * The transcriber holds a bounded amount of audio at once (issue 7, item 4): clips are taken a
 * few at a time once the spectrograms in flight reach maxBufferedSeconds, instead of up to three
 * batches of them — ten-minute clips would otherwise hold ~0.5 GB. The results are the same.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAudio, SAMPLE_RATE } from '../../lib/whisper/audio.ts';
import { WhisperEngine } from '../../lib/whisper/transcribe.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

const FIX = fileURLToPath(new URL('../fixtures/whisper/', import.meta.url));
const FILES = [
  'jfk.flac',
  'espeak_fox.wav',
  'speech-en1.flac',
  'speech-en2.flac',
  'speech-en3.flac',
  'speech-en4.flac',
].map((f) => path.join(FIX, f));
let engine: WhisperEngine;

before(async () => {
  engine = await WhisperEngine.load({ modelDir: whisperModelDir('tiny.en'), device: 'cpu', threads: 2 });
});
after(async () => {
  await engine?.close();
});

test('clips are taken a few at a time past maxBufferedSeconds, with the same results', async () => {
  // Seconds each clip holds as a spectrogram: its audio plus Whisper's 30 s of padding.
  const held = await Promise.all(FILES.map(async (f) => (await loadAudio(f)).length / SAMPLE_RATE + 30));
  const unbounded = await engine.transcribeFiles(FILES);
  const allAtOnce = engine.peakBufferedSeconds;
  assert.ok(Math.abs(allAtOnce - held.reduce((a, b) => a + b, 0)) < 1, `${allAtOnce} s: every clip at once`);

  const bounded = await engine.transcribeFiles(FILES, { maxBufferedSeconds: 1 });
  const threeLargest = [...held].sort((a, b) => b - a).slice(0, 3);
  assert.ok(
    engine.peakBufferedSeconds <= threeLargest.reduce((a, b) => a + b, 0) + 0.5,
    `${engine.peakBufferedSeconds} s held at most: the decodes already started (3) when the bound was reached`,
  );
  assert.deepEqual(bounded, unbounded);
});
