import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where tests find converted Whisper models: WHISPER_MODEL_CACHE, else the default cache. */
export const MODEL_CACHE = path.resolve(
  process.env.WHISPER_MODEL_CACHE || path.join(os.homedir(), '.cache', 'audio-pipeline', 'models'),
);

/** The folder of model `name` (base, tiny.en) when it has been converted, else undefined. */
export function whisperModelDir(name: string): string | undefined {
  const dir = path.join(MODEL_CACHE, name);
  return existsSync(path.join(dir, 'onnx', 'decoder_model_merged.onnx')) &&
    existsSync(path.join(dir, 'tokenizer.json'))
    ? dir
    : undefined;
}

/** A skip reason for node:test when the model is missing (the CI fetches models before tests). */
export function missingModel(name: string): string | false {
  return whisperModelDir(name)
    ? false
    : `Whisper model "${name}" not found under ${MODEL_CACHE} (run the model fetch first)`;
}
