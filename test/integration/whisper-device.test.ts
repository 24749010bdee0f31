/**
 * WHISPER_DEVICE: a provider that cannot load is a clear error naming the setting — never a silent
 * fall back to the CPU — unless the user asked for `auto`. Which providers can load depends on the
 * machine: CUDA needs onnxruntime's CUDA provider libraries (installed by onnxruntime-node's own
 * installer where the internet allows), WebGPU needs a Vulkan adapter. The expectation is derived
 * from what this machine has, so the test asserts the right thing on a GPU node too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { WhisperModel } from '../../lib/whisper/model.ts';
import { whisperModelDir } from '../support/whisper-models.ts';

const ortBinDir = path.join(
  path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')),
  'bin',
  'napi-v6',
  process.platform,
  process.arch,
);
const hasCudaProvider =
  existsSync(ortBinDir) && readdirSync(ortBinDir).some((f) => f.includes('providers_cuda'));

test(
  'cuda without its provider libraries is an error naming WHISPER_DEVICE',
  { timeout: 60_000 },
  async (t) => {
    if (hasCudaProvider) {
      t.diagnostic('CUDA provider libraries are installed: loading must succeed instead');
      const model = await WhisperModel.load({ modelDir: whisperModelDir('tiny.en'), device: 'cuda' });
      await model.release();
      return;
    }
    await assert.rejects(
      WhisperModel.load({ modelDir: whisperModelDir('tiny.en'), device: 'cuda' }),
      /WHISPER_DEVICE=cuda: .*no fallback/,
    );
  },
);

test('auto falls back and says which provider it chose', { timeout: 60_000 }, async () => {
  const lines: string[] = [];
  const logger = {
    info: (o: unknown, m?: string) => lines.push(`${JSON.stringify(o)} ${m ?? ''}`),
    warn: () => {},
    debug: () => {},
  };
  const model = await WhisperModel.load({
    modelDir: whisperModelDir('tiny.en'),
    device: 'auto',
    logger: logger as never,
  });
  try {
    assert.ok(['cuda', 'webgpu', 'cpu'].includes(model.provider), model.provider);
    if (!hasCudaProvider) assert.notEqual(model.provider, 'cuda');
    assert.ok(
      lines.some((l) => l.includes(`using the ${model.provider} execution provider`)),
      lines.join('\n'),
    );
  } finally {
    await model.release();
  }
});
