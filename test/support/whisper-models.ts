import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where tests find converted Whisper models: WHISPER_MODEL_CACHE, else the default cache. */
export const MODEL_CACHE = path.resolve(
  process.env.WHISPER_MODEL_CACHE || path.join(os.homedir(), '.cache', 'audio-pipeline', 'models'),
);

/**
 * The folder of model `name` (base, tiny.en). A missing model fails the test that needs it —
 * never skips it: `make test` fetches both models first.
 */
export function whisperModelDir(name: string): string {
  const dir = path.join(MODEL_CACHE, name);
  if (
    !existsSync(path.join(dir, 'onnx', 'decoder_model_merged.onnx')) ||
    !existsSync(path.join(dir, 'tokenizer.json'))
  ) {
    throw new Error(
      `Whisper model "${name}" not found under ${MODEL_CACHE}: run \`audio-pipeline model fetch --name ${name}\``,
    );
  }
  return dir;
}

/** The Silero VAD model that `model fetch` puts beside the models (WHISPER_VAD). */
export function vadModelFile(): string {
  const file = path.join(MODEL_CACHE, 'silero_vad_v6.onnx');
  if (!existsSync(file)) {
    throw new Error(`the VAD model ${file} is missing: run \`audio-pipeline model fetch\``);
  }
  return file;
}
