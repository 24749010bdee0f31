import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BadInputError } from '../errors.ts';

export interface FfmpegRun {
  stderr: string;
}

/** Messages that blame the machine rather than the input: those stay retryable. */
const ENVIRONMENT_TROUBLE =
  /No space left on device|Read-only file system|Too many open files|Cannot allocate memory|Disk quota exceeded/i;

/**
 * Runs ffmpeg to completion. Exit status 0 resolves; anything else rejects with BadInputError
 * (subject: `input`) carrying the first lines of ffmpeg's stderr, unless the message points at
 * the machine (disk full, …), which gives a plain, retryable Error. An aborted signal kills ffmpeg
 * and rejects with the signal's reason.
 */
export function runFfmpeg(
  ffmpegPath: string,
  args: string[],
  input: string,
  options: { signal?: AbortSignal; onStdout?: (chunk: Buffer) => void } = {},
): Promise<FfmpegRun> {
  const { signal, onStdout } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const child = spawn(ffmpegPath, args, { stdio: ['ignore', onStdout ? 'pipe' : 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 16384) stderr += chunk;
    });
    if (onStdout) child.stdout?.on('data', onStdout);
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new Error(`cannot run ffmpeg (${ffmpegPath}): ${err.message}`));
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolve({ stderr });
      else if (killedBy) reject(new Error(`ffmpeg was killed by ${killedBy} while reading ${input}`));
      else {
        const reason = firstLines(stderr) || `ffmpeg exited with code ${code}`;
        reject(
          ENVIRONMENT_TROUBLE.test(stderr)
            ? new Error(`ffmpeg failed on ${input}: ${reason}`)
            : new BadInputError(reason, input),
        );
      }
    });
  });
}

/** The first few distinct lines of ffmpeg's stderr, without the noise of repeated frames. */
export function firstLines(stderr: string, max = 3): string {
  const lines = [
    ...new Set(
      stderr
        .split('\n')
        .map((l) => l.replace(/ @ 0x[0-9a-f]+\]/g, ']').trim())
        .filter(Boolean),
    ),
  ];
  return lines.slice(0, max).join(' / ').slice(0, 600);
}

/** ffmpeg reads `a:b` as protocol `a`: the `file:` prefix makes any name a plain file. */
export function ffmpegFileArg(file: string): string {
  return `file:${path.resolve(file)}`;
}

/** An input that ffmpeg would fail on anyway, rejected early with a clearer reason. */
export async function checkInputFile(input: string): Promise<number> {
  let size: number;
  try {
    const s = await stat(input);
    if (!s.isFile()) throw new BadInputError('not a regular file', input);
    size = s.size;
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new BadInputError('no such file', input);
    throw err;
  }
  if (size === 0) throw new BadInputError('empty file (0 bytes)', input);
  return size;
}
