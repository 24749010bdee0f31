import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { MODEL_PINS, WHISPER_ASSETS_PIN, type ModelName } from '../../lib/model-supply/pins.ts';
import {
  defaultModelCache,
  ModelNotFoundError,
  readManifest,
  resolveModelDir,
  verifyModelDir,
} from '../../lib/model-supply/store.ts';

/**
 * Checks the converted models in the default cache ($WHISPER_MODEL_CACHE or
 * ~/.cache/audio-pipeline/models); CI runs `audio-pipeline model fetch` for both first.
 * A model that has not been fetched fails the suite (with the command to fetch it): `make test` fetches both.
 */

interface Expected {
  dModel: number;
  layers: number;
  heads: number;
  vocab: number;
  eot: number;
  sot: number;
  noTimestamps: number;
  multilingual: boolean;
}

const EXPECTED: Record<ModelName, Expected> = {
  'tiny.en': {
    dModel: 384,
    layers: 4,
    heads: 6,
    vocab: 51864,
    eot: 50256,
    sot: 50257,
    noTimestamps: 50362,
    multilingual: false,
  },
  base: {
    dModel: 512,
    layers: 6,
    heads: 8,
    vocab: 51865,
    eot: 50257,
    sot: 50258,
    noTimestamps: 50363,
    multilingual: true,
  },
};

/** sha256 of Whisper's mel_80 filters (openai-whisper whisper/assets/mel_filters.npz) as float32 LE 80x201. */
const MEL_80_SHA256 = '4f2701b1d287d74a0dc9871026e9519d98cb76426615f2539b0d151a0ae4ec2e';

const cache = defaultModelCache(process.env.WHISPER_MODEL_CACHE);

function readJson(dir: string, file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;
}

function metaShape(
  meta: readonly ort.InferenceSession.ValueMetadata[],
  name: string,
): ReadonlyArray<number | string> {
  const m = meta.find((v) => v.name === name);
  assert.ok(m, `no metadata for ${name}`);
  assert.ok(m.isTensor, `${name} is not a tensor`);
  return m.shape;
}

test('resolveModelDir: a missing model names the fetch command', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'model-store-'));
  try {
    assert.throws(
      () => resolveModelDir('tiny.en', empty),
      (err: unknown) =>
        err instanceof ModelNotFoundError &&
        err.message.includes('audio-pipeline model fetch --name tiny.en'),
    );
    assert.throws(() => resolveModelDir(empty, empty), ModelNotFoundError);
    // A directory in the onnx-community layout is used as is.
    fs.mkdirSync(path.join(empty, 'mine', 'onnx'), { recursive: true });
    fs.writeFileSync(path.join(empty, 'mine', 'config.json'), '{}');
    fs.writeFileSync(path.join(empty, 'mine', 'onnx', 'encoder_model.onnx'), '');
    assert.equal(resolveModelDir(path.join(empty, 'mine'), '/nonexistent'), path.join(empty, 'mine'));
    assert.equal(resolveModelDir('mine', empty), path.join(empty, 'mine'));
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

for (const name of ['tiny.en', 'base'] as const) {
  const dir = path.join(cache, name);
  const fetched = fs.existsSync(path.join(dir, 'manifest.json'));
  const exp = EXPECTED[name];

  describe(`converted model ${name}`, () => {
    test('has been fetched', () => {
      assert.ok(fetched, `${dir} missing: run \`audio-pipeline model fetch --name ${name}\``);
    });
    test('every file in manifest.json has its sha256; sources are the pinned packages', async () => {
      assert.deepEqual(await verifyModelDir(dir, { name }), []);
      const manifest = readManifest(dir)!;
      for (const w of [...MODEL_PINS[name].wheels, WHISPER_ASSETS_PIN]) {
        assert.ok(
          manifest.sources.some((s) => s.name === w.name && s.version === w.version && s.sha256 === w.sha256),
          `${w.name}==${w.version} recorded`,
        );
      }
      for (const f of [
        'config.json',
        'generation_config.json',
        'preprocessor_config.json',
        'tokenizer.json',
        'tokenizer_config.json',
        'ct2_config.json',
        'mel_filters_80.bin',
        'onnx/encoder_model.onnx',
        'onnx/decoder_model_merged.onnx',
      ]) {
        assert.ok(manifest.files[f], `${f} listed`);
      }
      assert.equal(manifest.files['mel_filters_80.bin'].size, 80 * 201 * 4);
      assert.equal(manifest.files['mel_filters_80.bin'].sha256, MEL_80_SHA256);
    });

    test('config.json is a Hugging Face WhisperConfig', () => {
      const c = readJson(dir, 'config.json');
      assert.equal(c.model_type, 'whisper');
      assert.equal(c.d_model, exp.dModel);
      assert.equal(c.encoder_layers, exp.layers);
      assert.equal(c.decoder_layers, exp.layers);
      assert.equal(c.encoder_attention_heads, exp.heads);
      assert.equal(c.decoder_attention_heads, exp.heads);
      assert.equal(c.vocab_size, exp.vocab);
      assert.equal(c.num_mel_bins, 80);
      assert.equal(c.max_source_positions, 1500);
      assert.equal(c.max_target_positions, 448);
      assert.equal(c.decoder_start_token_id, exp.sot);
      assert.equal(c.eos_token_id, exp.eot);
      assert.equal(c.pad_token_id, exp.eot);
      assert.deepEqual(c.begin_suppress_tokens, [220, exp.eot]);
      assert.ok(Array.isArray(c.suppress_tokens) && c.suppress_tokens.length > 80);
      assert.equal((c.alignment_heads as unknown[]).length, 8);
    });

    test('generation_config.json has the Whisper prompt tokens', () => {
      const g = readJson(dir, 'generation_config.json');
      const ct2 = readJson(dir, 'ct2_config.json');
      assert.equal(g.is_multilingual, exp.multilingual);
      assert.equal(g.no_timestamps_token_id, exp.noTimestamps);
      assert.equal(g.decoder_start_token_id, exp.sot);
      assert.equal(g.eos_token_id, exp.eot);
      assert.equal(g.max_length, 448);
      assert.equal(g.forced_decoder_ids, null);
      assert.deepEqual(g.suppress_tokens, ct2.suppress_ids);
      assert.deepEqual(g.begin_suppress_tokens, ct2.suppress_ids_begin);
      const langs = g.lang_to_id as Record<string, number>;
      const tasks = g.task_to_id as Record<string, number>;
      if (exp.multilingual) {
        assert.equal(langs['<|en|>'], 50259);
        assert.equal(langs['<|de|>'], 50261);
        assert.equal(Object.keys(langs).length, 99);
        assert.deepEqual(tasks, { translate: 50358, transcribe: 50359 });
      } else {
        assert.deepEqual(langs, {});
      }
      const p = readJson(dir, 'preprocessor_config.json');
      assert.equal(p.feature_extractor_type, 'WhisperFeatureExtractor');
      assert.equal(p.feature_size, 80);
      assert.equal(p.sampling_rate, 16000);
      assert.equal(p.hop_length, 160);
      assert.equal(p.n_fft, 400);
      assert.equal(p.chunk_length, 30);
      assert.equal(p.n_samples, 480000);
      assert.equal(p.nb_max_frames, 3000);
      assert.equal(p.return_attention_mask, false);
      const tok = readJson(dir, 'tokenizer.json') as { added_tokens: { id: number; content: string }[] };
      const byContent = new Map(tok.added_tokens.map((t) => [t.content, t.id]));
      assert.equal(byContent.get('<|endoftext|>'), exp.eot);
      assert.equal(byContent.get('<|startoftranscript|>'), exp.sot);
      assert.equal(byContent.get('<|notimestamps|>'), exp.noTimestamps);
      assert.equal(byContent.get('<|30.00|>'), exp.vocab - 1, 'every id the model can emit decodes');
      assert.equal(readJson(dir, 'tokenizer_config.json').tokenizer_class, 'WhisperTokenizer');
    });

    test('encoder_model.onnx: input_features [B,80,F] -> last_hidden_state [B,F/2,D], a window or a probe', async () => {
      const s = await ort.InferenceSession.create(path.join(dir, 'onnx/encoder_model.onnx'));
      try {
        assert.deepEqual(s.inputNames, ['input_features']);
        assert.deepEqual(s.outputNames, ['last_hidden_state']);
        assert.deepEqual(metaShape(s.inputMetadata, 'input_features'), ['batch_size', 80, 'mel_frames']);
        assert.deepEqual(metaShape(s.outputMetadata, 'last_hidden_state'), [
          'batch_size',
          'encoder_sequence_length',
          exp.dModel,
        ]);
        // a 30-s window, and a 10-s language probe (the positions sliced to its 500 frames)
        for (const frames of [3000, 1000]) {
          const mel = new Float32Array(80 * frames).map((_, i) => Math.sin(i) * 0.5);
          const out = await s.run({ input_features: new ort.Tensor('float32', mel, [1, 80, frames]) });
          assert.deepEqual(out.last_hidden_state.dims, [1, frames / 2, exp.dModel]);
          assert.ok((out.last_hidden_state.data as Float32Array).every(Number.isFinite));
        }
      } finally {
        await s.release();
      }
    });

    test('decoder_model_merged.onnx: names, shapes, and one prompt step + one cached step run', async () => {
      const s = await ort.InferenceSession.create(path.join(dir, 'onnx/decoder_model_merged.onnx'));
      try {
        const L = exp.layers;
        const H = exp.heads;
        const pastNames: string[] = [];
        const presentNames: string[] = [];
        for (let i = 0; i < L; i++) {
          for (const side of ['decoder', 'encoder']) {
            for (const kind of ['key', 'value']) {
              pastNames.push(`past_key_values.${i}.${side}.${kind}`);
              presentNames.push(`present.${i}.${side}.${kind}`);
            }
          }
        }
        assert.deepEqual(
          [...s.inputNames].sort(),
          ['input_ids', 'encoder_hidden_states', ...pastNames, 'use_cache_branch'].sort(),
        );
        const attentionNames = Array.from({ length: L }, (_, i) => `cross_attentions.${i}`);
        assert.deepEqual([...s.outputNames].sort(), ['logits', ...presentNames, ...attentionNames].sort());
        assert.deepEqual(metaShape(s.inputMetadata, 'input_ids'), ['batch_size', 'decoder_sequence_length']);
        assert.deepEqual(metaShape(s.inputMetadata, 'encoder_hidden_states'), [
          'batch_size',
          'encoder_sequence_length',
          exp.dModel,
        ]);
        assert.deepEqual(metaShape(s.inputMetadata, 'past_key_values.0.decoder.key'), [
          'batch_size',
          H,
          'past_decoder_sequence_length',
          64,
        ]);
        assert.deepEqual(metaShape(s.inputMetadata, 'past_key_values.0.encoder.value'), [
          'batch_size',
          H,
          'encoder_sequence_length_out',
          64,
        ]);
        assert.deepEqual(metaShape(s.inputMetadata, 'use_cache_branch'), [1]);
        assert.deepEqual(metaShape(s.outputMetadata, 'logits'), [
          'batch_size',
          'decoder_sequence_length',
          exp.vocab,
        ]);

        const enc = new ort.Tensor(
          'float32',
          new Float32Array(1500 * exp.dModel).map((_, i) => Math.sin(i) * 0.5),
          [1, 1500, exp.dModel],
        );
        const empty = (): ort.Tensor => new ort.Tensor('float32', new Float32Array(0), [1, H, 0, 64]);
        const prompt = exp.multilingual
          ? [exp.sot, 50259, 50359, exp.noTimestamps]
          : [exp.sot, exp.noTimestamps];
        const feeds: Record<string, ort.Tensor> = {
          input_ids: new ort.Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]),
          encoder_hidden_states: enc,
          use_cache_branch: new ort.Tensor('bool', [false], [1]),
        };
        for (const n of pastNames) feeds[n] = empty();
        const first = await s.run(feeds);
        assert.deepEqual(first.logits.dims, [1, prompt.length, exp.vocab]);
        assert.deepEqual(first['present.0.decoder.key'].dims, [1, H, prompt.length, 64]);
        assert.deepEqual(first[`present.${L - 1}.encoder.value`].dims, [1, H, 1500, 64]);
        // the cross-attention softmax (word timestamps): each row sums to 1 over the 1500 frames
        const att = first[`cross_attentions.${L - 1}`];
        assert.deepEqual(att.dims, [1, H, prompt.length, 1500]);
        const row = (att.data as Float32Array).subarray(0, 1500);
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);

        const next: Record<string, ort.Tensor> = {
          input_ids: new ort.Tensor('int64', BigInt64Array.from([BigInt(exp.eot - 1)]), [1, 1]),
          encoder_hidden_states: enc,
          use_cache_branch: new ort.Tensor('bool', [true], [1]),
        };
        for (const n of pastNames) next[n] = first[n.replace('past_key_values.', 'present.')] as ort.Tensor;
        const second = await s.run(next);
        assert.deepEqual(second.logits.dims, [1, 1, exp.vocab]);
        assert.deepEqual(second['present.0.decoder.key'].dims, [1, H, prompt.length + 1, 64]);
        // with use_cache_branch the cross-attention K/V are passed through unchanged
        assert.deepEqual(
          (second['present.0.encoder.key'].data as Float32Array).subarray(0, 64),
          (first['present.0.encoder.key'].data as Float32Array).subarray(0, 64),
        );
        assert.ok((second.logits.data as Float32Array).every(Number.isFinite));
      } finally {
        await s.release();
      }
    });
  });
}
