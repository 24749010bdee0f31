/**
 * The VAD model beside the Whisper models: Silero VAD v6 as ONNX (VAD_PIN), taken from the pinned
 * faster-whisper wheel on PyPI and kept as `<cacheDir>/silero_vad_v6.onnx`. `model fetch` and the
 * first-use fetch (ensure.ts) get it with the model; the engine runs it when WHISPER_VAD=1.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { sha256File } from '../file-hash.ts';
import { lastLines, runCommand } from '../python-venv.ts';
import { cacheTools, download, withFetchLock } from './fetch.ts';
import { VAD_PIN } from './pins.ts';
import { ModelNotFoundError } from './store.ts';

export function vadModelPath(cacheDir: string): string {
  return path.join(path.resolve(cacheDir), VAD_PIN.file);
}

async function verified(file: string): Promise<boolean> {
  return fs.existsSync(file) && (await sha256File(file)) === VAD_PIN.sha256;
}

export interface FetchVadOptions {
  cacheDir: string;
  onLog?: (line: string) => void;
  /** Interpreter that creates the cache's tools venv when it is missing (default python3). */
  python?: string;
  pipIndexUrl?: string;
  signal?: AbortSignal;
}

/**
 * Makes `<cacheDir>/silero_vad_v6.onnx` hold the pinned file: reuses a copy with the pinned
 * sha256, otherwise downloads the faster-whisper wheel with pip (hash-checked) into the cache's
 * downloads and extracts the one file from it. Returns its path.
 */
export async function fetchVadModel(opts: FetchVadOptions): Promise<string> {
  const onLog = opts.onLog ?? (() => {});
  const cacheDir = path.resolve(opts.cacheDir);
  const dest = vadModelPath(cacheDir);
  if (await verified(dest)) return dest;
  fs.mkdirSync(cacheDir, { recursive: true });
  return withFetchLock(cacheDir, onLog, async () => {
    if (await verified(dest)) return dest;
    const { py, pipIndex, dlDir } = await cacheTools(cacheDir, opts, onLog);
    const wheel = await download(py, VAD_PIN.wheel, dlDir, pipIndex, onLog, opts.signal);
    const tmp = path.join(cacheDir, `.${VAD_PIN.file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      onLog(`extracting ${VAD_PIN.member} (Silero VAD v6, MIT) from ${VAD_PIN.wheel.file}`);
      const extract =
        'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))';
      const res = await runCommand(
        py,
        ['-c', extract, wheel, VAD_PIN.member, tmp],
        onLog,
        undefined,
        opts.signal,
      );
      if (res.code !== 0)
        throw new Error(
          `cannot extract ${VAD_PIN.member} from ${wheel} (exit ${res.code})${lastLines(res.tail)}`,
        );
      const sum = await sha256File(tmp);
      if (sum !== VAD_PIN.sha256)
        throw new Error(
          `${VAD_PIN.member} in ${VAD_PIN.wheel.file}: sha256 ${sum}, pinned ${VAD_PIN.sha256}`,
        );
      fs.renameSync(tmp, dest);
      onLog(`VAD model ready in ${dest}`);
      return dest;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  });
}

/**
 * The VAD model the engine runs (EngineOptions.vadModel): its path when WHISPER_VAD=1, undefined
 * when off. A missing file is a ModelNotFoundError naming the command that fetches it.
 */
export function configuredVadModel(
  whisper: Pick<Config['whisper'], 'vad' | 'modelCache'>,
): string | undefined {
  if (!whisper.vad) return undefined;
  const file = vadModelPath(whisper.modelCache);
  if (!fs.existsSync(file)) {
    throw new ModelNotFoundError(
      `the VAD model ${file} is missing (WHISPER_VAD=1): run \`audio-pipeline model fetch\` to get it with the Whisper model, or set WHISPER_VAD=0`,
    );
  }
  return file;
}
