/** Where the engine finds the VAD model (WHISPER_VAD) and what a missing one says. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelNotFoundError } from '../../lib/model-supply/store.ts';
import { configuredVadModel, vadModelPath } from '../../lib/model-supply/vad-asset.ts';

test('WHISPER_VAD=0 needs no VAD model; =1 finds it in the model cache or says how to fetch it', () => {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'vad-asset-'));
  try {
    assert.equal(configuredVadModel({ vad: false, modelCache: cache }), undefined);
    assert.throws(
      () => configuredVadModel({ vad: true, modelCache: cache }),
      (err: Error) =>
        err instanceof ModelNotFoundError &&
        err.message.includes(path.join(cache, 'silero_vad_v6.onnx')) &&
        err.message.includes('audio-pipeline model fetch') &&
        err.message.includes('WHISPER_VAD=0'),
    );
    writeFileSync(vadModelPath(cache), 'x');
    assert.equal(
      configuredVadModel({ vad: true, modelCache: cache }),
      path.join(cache, 'silero_vad_v6.onnx'),
    );
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
