/**
 * `audio-pipeline model import DIR` (issue 11, item 4): a faster-whisper / CTranslate2 Whisper
 * directory shaped like large-v3 — 128 Mel bins, vocabulary 51866 (<|yue|>), its own layer
 * counts — built here with random weights (test/support/make_tiny_ct2_whisper.py writes model.bin
 * in CTranslate2's format), converted into the model cache (fp32 and int8), then run end to end
 * by the engine on one window. Its output is noise; the shapes, the 128-bin features and the
 * absence of errors are what is checked. Bad directories exit 2 naming the file and the reason.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeLanguages, PROBE_FRAMES } from '../../lib/whisper/language-probe.ts';
import { WhisperEngine, type TranscriptionResult } from '../../lib/whisper/transcribe.ts';
import { childEnv } from '../support/child-env.ts';
import { runCli } from '../support/cli.ts';
import { MODEL_CACHE, whisperModelDir } from '../support/whisper-models.ts';

const BUILDER = fileURLToPath(new URL('../support/make_tiny_ct2_whisper.py', import.meta.url));
const CLIP = fileURLToPath(new URL('../fixtures/whisper/speech-en1.flac', import.meta.url));
const NAME = `test-import-128-${process.pid}`;

let work: string;
let tiny: string;

before(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'model-import-'));
  tiny = path.join(work, 'faster-whisper-tiny-v3');
  // The converter's venv (numpy) that `model fetch` made in the cache; base's tokenizer is the
  // multilingual one that the builder turns into large-v3's.
  execFileSync(path.join(MODEL_CACHE, '.venv', 'bin', 'python'), [
    BUILDER,
    '--out',
    tiny,
    '--base-tokenizer',
    path.join(whisperModelDir('base'), 'tokenizer.json'),
  ]);
});
after(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(path.join(MODEL_CACHE, NAME), { recursive: true, force: true });
});

const importArgs = (dir: string, name = NAME) => [
  'model',
  'import',
  dir,
  '--name',
  name,
  '--cache',
  MODEL_CACHE,
];

test('a 128-Mel large-v3-shaped model imports and runs one window end to end (fp32 and int8)', async () => {
  const res = await runCli(childEnv(), importArgs(tiny));
  assert.equal(res.code, 0, res.stderr);
  const modelDir = res.stdout.trim();
  assert.equal(modelDir, path.join(MODEL_CACHE, NAME));
  assert.match(res.stderr, /128 Mel bins, vocabulary 51866/);
  for (const f of [
    'mel_filters_128.bin',
    'onnx/encoder_model_int8.onnx',
    'onnx/decoder_model_merged_int8.onnx',
  ])
    assert.ok(existsSync(path.join(modelDir, f)), f);

  for (const compute of ['fp32', 'int8'] as const) {
    const engine = await WhisperEngine.load({ modelDir, compute, threads: 2, temperatures: [0] });
    try {
      assert.equal(engine.model.dims.nMels, 128);
      assert.equal(engine.model.dims.nVocab, 51866);
      assert.equal(engine.tokenizer.languageCodes.length, 100);
      assert.equal(engine.tokenizer.languageCodes.at(-1), 'yue');
      const [r] = await engine.transcribeFiles([CLIP]);
      assert.ok(!('error' in r), `${compute}: ${JSON.stringify(r)}`);
      assert.equal((r as TranscriptionResult).duration_s > 4, true);
      // One 30-s window went through the encoder as [1, 128, 3000] (onnxruntime checks the bands).
      assert.equal(engine.model.stats.encodedWindows, 1, compute);
      assert.ok(engine.model.stats.decodeCalls >= 1, compute);
      // a language probe: 10 s through the encoder, whose positions the converter slices to fit
      assert.equal(engine.model.encodesAnyLength, true);
      const mel = {
        data: new Float32Array(128 * PROBE_FRAMES).fill(-0.5),
        nMels: 128,
        nFrames: PROBE_FRAMES,
      };
      const [probed] = await probeLanguages(engine.model, engine.tokenizer, [mel]);
      assert.ok(engine.tokenizer.languageCodes.includes(probed.language), JSON.stringify(probed));
      assert.ok(probed.probability > 0 && probed.probability <= 1, JSON.stringify(probed));
      assert.equal(engine.model.stats.encodedProbes, 1, compute);
      assert.equal(engine.model.stats.encodedWindows, 1, compute);
    } finally {
      await engine.close();
    }
  }
});

describe('bad directories exit 2 naming the file and the reason', () => {
  const bad = (label: string, make: (dir: string) => void, reason: RegExp) =>
    test(label, async () => {
      const dir = path.join(work, label.replace(/\W+/g, '-'));
      cpSync(tiny, dir, { recursive: true });
      make(dir);
      const res = await runCli(childEnv(), importArgs(dir, `${NAME}-bad`));
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, reason);
      assert.ok(!existsSync(path.join(MODEL_CACHE, `${NAME}-bad`)));
    });
  bad('no model.bin', (d) => rmSync(path.join(d, 'model.bin')), /model\.bin: missing/);
  bad(
    'not a CTranslate2 file',
    (d) => writeFileSync(path.join(d, 'model.bin'), 'not a model'),
    /model\.bin: CTranslate2 model\.bin version \d+; version 6/,
  );
  bad(
    'truncated model.bin',
    (d) =>
      writeFileSync(
        path.join(d, 'model.bin'),
        readFileSync(path.join(tiny, 'model.bin')).subarray(0, 100_000),
      ),
    /model\.bin: truncated/,
  );
  bad('no tokenizer.json', (d) => rmSync(path.join(d, 'tokenizer.json')), /tokenizer\.json: missing/);
  bad(
    'feature_size of another model',
    (d) => writeFileSync(path.join(d, 'preprocessor_config.json'), JSON.stringify({ feature_size: 80 })),
    /preprocessor_config\.json: feature_size 80, but model\.bin's encoder takes 128 Mel bins/,
  );
  bad(
    'config.json not JSON',
    (d) => writeFileSync(path.join(d, 'config.json'), '{'),
    /config\.json: not valid JSON/,
  );
  test('a directory that does not exist', async () => {
    const res = await runCli(childEnv(), importArgs(path.join(work, 'nowhere')));
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /nowhere: no such directory/);
  });
});
