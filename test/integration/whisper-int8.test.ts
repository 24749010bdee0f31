/**
 * WHISPER_COMPUTE=int8 (issue 11, item 2): the quantized graphs of the real `base` model
 * (onnx/*_int8.onnx, written by `model fetch` with models/quantize_int8.py) transcribe real and
 * synthetic English speech about as well as the fp32 graphs, through the split decoder.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../lib/errors.ts';
import { WhisperModel } from '../../lib/whisper/model.ts';
import { WhisperEngine, type TranscriptionResult } from '../../lib/whisper/transcribe.ts';
import { corpusWer } from '../../lib/whisper/wer.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

const FIX = fileURLToPath(new URL('../fixtures/whisper/', import.meta.url));
const JFK =
  'And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.';
const speech = JSON.parse(readFileSync(path.join(FIX, 'speech.json'), 'utf8')) as Array<{
  id: string;
  text: string;
}>;
const CLIPS = [
  { file: path.join(FIX, 'jfk.flac'), text: JFK },
  ...['en1', 'en2', 'en3', 'en4'].map((id) => ({
    file: path.join(FIX, `speech-${id}.flac`),
    text: (speech.find((s) => s.id === id) as { text: string }).text,
  })),
];

let fp32: WhisperEngine;
let int8: WhisperEngine;
before(async () => {
  const modelDir = whisperModelDir('base');
  fp32 = await WhisperEngine.load({ modelDir, compute: 'fp32', threads: 2, temperatures: [0] });
  int8 = await WhisperEngine.load({ modelDir, compute: 'int8', threads: 2, temperatures: [0] });
});
after(async () => {
  await fp32?.close();
  await int8?.close();
});

/** The int8 results of CLIPS transcribed together (one batch). */
let int8Batch: Array<TranscriptionResult | { error: string }> = [];

async function wer(engine: WhisperEngine): Promise<{ wer: number; texts: string[] }> {
  const out = await engine.transcribeFiles(CLIPS.map((c) => c.file));
  if (engine === int8) int8Batch = out;
  const texts = out.map((r) => {
    assert.ok(!('error' in r), JSON.stringify(r));
    return (r as TranscriptionResult).text;
  });
  return { wer: corpusWer(CLIPS.map((c, i) => ({ reference: c.text, hypothesis: texts[i] }))), texts };
}

test('int8 transcribes the clips within 5 WER points of fp32, with the split decoder', async () => {
  assert.equal(int8.model.compute, 'int8');
  assert.equal(int8.model.decoderMode, 'split', 'the quantized merged decoder splits like the fp32 one');
  const a = await wer(fp32);
  const b = await wer(int8);
  assert.ok(a.wer <= 0.1, `fp32 WER ${a.wer}: ${a.texts.join(' | ')}`);
  assert.ok(b.wer <= a.wer + 0.05, `int8 WER ${b.wer} vs fp32 ${a.wer}: ${b.texts.join(' | ')}`);
});

test('an int8 clip transcribes the same alone as in a batch (activations are quantized per row)', async () => {
  assert.equal(int8Batch.length, CLIPS.length, 'the WER test ran first');
  for (const i of [0, 2]) {
    const [alone] = await int8.transcribeFiles([CLIPS[i].file]);
    assert.deepEqual(alone, int8Batch[i], CLIPS[i].file);
  }
});

test('fp16 is refused on the CPU, and a model without int8 graphs names the file and the setting', async () => {
  await assert.rejects(
    WhisperEngine.load({ modelDir: whisperModelDir('base'), compute: 'fp16', device: 'cpu' }),
    (err: unknown) => err instanceof ConfigError && /fp16 is for GPUs/.test(err.message),
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'whisper-no-int8-'));
  try {
    writeFileSync(
      path.join(dir, 'config.json'),
      readFileSync(path.join(whisperModelDir('base'), 'config.json')),
    );
    await assert.rejects(
      WhisperModel.load({ modelDir: dir, compute: 'int8' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes('onnx/encoder_model_int8.onnx is missing') &&
        err.message.includes('WHISPER_COMPUTE=fp32'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the quantized decoder split in memory computes what the merged int8 graph does', async () => {
  const { padOrTrim, loadAudio } = await import('../../lib/whisper/audio.ts');
  const { loadMelFilters, logMelSpectrogram } = await import('../../lib/whisper/mel.ts');
  const dir = whisperModelDir('base');
  const merged = await WhisperModel.load({
    modelDir: dir,
    compute: 'int8',
    threads: 2,
    decoderMode: 'merged',
  });
  try {
    const split = int8.model;
    const mel = logMelSpectrogram(padOrTrim(await loadAudio(CLIPS[0].file)), loadMelFilters(dir));
    const feats = await split.encode(mel.data, 1);
    const sot = int8.tokenizer.sotSequence('en').map(BigInt);
    let a = await split.decode(new BigInt64Array(sot), 1, feats);
    let b = await merged.decode(new BigInt64Array(sot), 1, feats);
    const V = split.dims.nVocab;
    for (let step = 0; step < 6; step++) {
      const last = (a.logits.length / V - 1) * V;
      let best = 0;
      let maxDiff = 0;
      for (let i = 0; i < V; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(a.logits[last + i] - b.logits[last + i]));
        if (a.logits[last + i] > a.logits[last + best]) best = i;
      }
      assert.ok(maxDiff < 1e-3, `step ${step}: logits differ by ${maxDiff}`);
      a = await split.decode(new BigInt64Array([BigInt(best)]), 1, feats, a.cache);
      b = await merged.decode(new BigInt64Array([BigInt(best)]), 1, feats, b.cache);
    }
  } finally {
    await merged.release();
  }
});
