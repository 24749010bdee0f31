/**
 * WHISPER_DEVICE=webgpu with the KV cache kept on the device, run for real on Mesa's lavapipe
 * (software Vulkan, installed by .ci/system-packages.sh from bookworm-backports: Dawn refuses the
 * lavapipe of Debian 12's Mesa 22.3). The decoder's `present.*` outputs come back as GPU buffers
 * and are fed back as `past_key_values.*`; the tokens must equal the CPU provider's. Lavapipe is
 * slow (a 30-s tiny.en encoder window takes minutes), so the CPU encodes the window and WebGPU
 * decodes its first tokens: the part this path changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAudio, N_FRAMES, N_SAMPLES } from '../../lib/whisper/audio.ts';
import { loadMelFilters, logMelSpectrogram, melWindow } from '../../lib/whisper/mel.ts';
import { WhisperModel } from '../../lib/whisper/model.ts';
import { Tokenizer } from '../../lib/whisper/tokenizer.ts';
import { decodeBatch, DecodingTask } from '../../lib/whisper/decoding.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

const CLIP = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'whisper',
  'speech-en2.flac',
);

test(
  'webgpu decodes with a device-resident KV cache, token for token like the CPU',
  { timeout: 600_000 },
  async () => {
    const dir = whisperModelDir('tiny.en');
    const tokenizer = Tokenizer.fromModelDir(dir);
    const cpu = await WhisperModel.load({ modelDir: dir, threads: 2 });
    const gpu = await WhisperModel.load({ modelDir: dir, device: 'webgpu' });
    try {
      assert.equal(gpu.provider, 'webgpu');
      assert.ok(gpu.keepsKvOnDevice, 'the split decoder keeps its K/V on the device');
      const mel = melWindow(
        logMelSpectrogram(await loadAudio(CLIP), loadMelFilters(dir, cpu.dims.nMels), N_SAMPLES),
        0,
        N_FRAMES,
      );
      const features = await cpu.encode(mel, 1);

      // One step by hand: the cache comes back as GPU buffers, the logits as host memory.
      const sot = BigInt64Array.from(tokenizer.sotSequence(undefined, 'transcribe'), BigInt);
      const step = await gpu.decode(sot, 1, features);
      assert.equal(step.cache.self[0].location, 'gpu-buffer');
      assert.equal(step.cache.cross[0].location, 'gpu-buffer');
      assert.equal(step.logits.length, sot.length * gpu.dims.nVocab);
      step.cache.release();
      assert.equal(step.cache.self[0].location, 'none', 'released tensors are disposed');

      const task = () => new DecodingTask(tokenizer, { language: 'en', temperature: 0, sampleLen: 6 }, 448);
      const [onCpu] = await decodeBatch(cpu, features, [task()]);
      const [onGpu] = await decodeBatch(gpu, features, [task()]);
      assert.equal(onCpu.tokens.length, 6, onCpu.text);
      assert.deepEqual(onGpu.tokens, onCpu.tokens);
      assert.ok(Math.abs(onGpu.noSpeechProb - onCpu.noSpeechProb) < 1e-3);
    } finally {
      await gpu.release();
      await cpu.release();
    }
  },
);
