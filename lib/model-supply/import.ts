/**
 * `model import DIR`: a faster-whisper / CTranslate2 Whisper directory the user already has
 * (large-v3, large-v3-turbo, a fine-tune…) converted into the model store as `<cacheDir>/<name>`
 * by the same converter and int8 quantizer as `model fetch`, with the pinned openai-whisper
 * assets (Mel filters for 80 or 128 bins). The directory is checked first (ct2-dir.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkCt2WhisperDir, ImportDirError, type Ct2WhisperInfo } from './ct2-dir.ts';
import { cacheTools, convertIntoStore, download, withFetchLock, type FetchOptions } from './fetch.ts';
import { isModelName, WHISPER_ASSETS_PIN } from './pins.ts';

export interface ImportOptions extends Pick<FetchOptions, 'python' | 'pipIndexUrl' | 'signal'> {
  dir: string;
  /** Name in the store (default: the directory's name). */
  name?: string;
  cacheDir: string;
  /** Replace a model of that name already in the store. */
  force?: boolean;
  onLog?: (line: string) => void;
}

/** A store name: one path component of letters, digits, '.', '_' and '-'. */
export function importName(dir: string, name?: string): string {
  const n = name ?? path.basename(path.resolve(dir)).replace(/[^A-Za-z0-9._-]+/g, '-');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(n))
    throw new ImportDirError(`model name '${n}': use letters, digits, '.', '_' and '-' (--name)`);
  if (isModelName(n))
    throw new ImportDirError(
      `model name '${n}' is that of a pinned model (\`model fetch --name ${n}\`): choose another with --name`,
    );
  return n;
}

export async function importModel(opts: ImportOptions): Promise<{ dir: string; info: Ct2WhisperInfo }> {
  const onLog = opts.onLog ?? (() => {});
  const source = path.resolve(opts.dir);
  const info = checkCt2WhisperDir(source);
  const name = importName(source, opts.name);
  const cacheDir = path.resolve(opts.cacheDir);
  const target = path.join(cacheDir, name);
  onLog(
    `${source}: Whisper, width ${info.dModel}, ${info.encoderLayers}+${info.decoderLayers} layers, ` +
      `${info.nMels} Mel bins, vocabulary ${info.vocab}`,
  );
  if (fs.existsSync(target) && !opts.force)
    throw new ImportDirError(
      `${target} already exists: pass --force to replace it, or --name to import as another`,
    );
  fs.mkdirSync(cacheDir, { recursive: true });
  return withFetchLock(cacheDir, onLog, async () => {
    const { py, pipIndex, dlDir } = await cacheTools(cacheDir, opts, onLog);
    const assets = await download(py, WHISPER_ASSETS_PIN, dlDir, pipIndex, onLog, opts.signal);
    const dir = await convertIntoStore({
      py,
      cacheDir,
      name,
      source: ['--ct2-dir', source],
      assets,
      onLog,
      signal: opts.signal,
    });
    return { dir, info };
  });
}
