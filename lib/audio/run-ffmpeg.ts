import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { untrustedChildEnv } from '../config.ts';
import { BadInputError } from '../errors.ts';

export interface FfmpegRun {
  stderr: string;
}

/** Messages that blame the machine rather than the input: those stay retryable. */
const ENVIRONMENT_TROUBLE =
  /No space left on device|Read-only file system|Too many open files|Cannot allocate memory|Disk quota exceeded/i;

/** How an ffmpeg run ended, whoever ran it (this module, or the transcriber's helper process). */
export interface FfmpegExit {
  /** Exit status; null when killed by a signal or never started. */
  code: number | null;
  signal?: string | null;
  /** Set when the program could not be started at all. */
  spawnError?: string;
  stderr: string;
}

/**
 * The one classification of an ffmpeg failure, for every stage that runs it (convert, the
 * transcriber's decoder): a program that cannot start, a kill, or stderr that blames the machine
 * (disk full, out of memory) is a plain Error — retryable; any other non-zero exit is the input's
 * fault, a BadInputError naming `input` with ffmpeg's first lines. `what` prefixes that reason
 * ("cannot decode audio").
 */
export function ffmpegFailure(exit: FfmpegExit, input: string, ffmpegPath: string, what?: string): Error {
  if (exit.spawnError !== undefined) {
    return new Error(
      `cannot run ffmpeg (${ffmpegPath}): ${exit.spawnError} (set FFMPEG_PATH) while reading ${input}`,
    );
  }
  if (exit.code === null) {
    return new Error(`ffmpeg was killed by ${exit.signal ?? 'a signal'} while reading ${input}`);
  }
  const reason =
    firstLines(exit.stderr.split(ffmpegFileArg(input)).join(input)) || `ffmpeg exited with code ${exit.code}`;
  if (ENVIRONMENT_TROUBLE.test(exit.stderr)) return new Error(`ffmpeg failed on ${input}: ${reason}`);
  return new BadInputError(what ? `${what}: ${reason}` : reason, input);
}

/**
 * Input options for a file ffmpeg must read alone: only the `file` protocol, and a pinned
 * demuxer (`-f`) or a list of allowed ones (`-format_whitelist`). Without them a "clip" that is
 * really an HLS or concat playlist makes ffmpeg open the files it names (issue 7, item 5).
 */
export function pinnedInput(file: string, format: { demuxer: string } | { allowed: string }): string[] {
  return [
    '-protocol_whitelist',
    'file',
    ...('demuxer' in format ? ['-f', format.demuxer] : ['-format_whitelist', format.allowed]),
    '-i',
    ffmpegFileArg(file),
  ];
}

/**
 * Demuxers for audio files given to the transcriber directly (`audio-pipeline transcribe`):
 * plain audio containers, no playlists (hls, concat) and no devices.
 */
export const AUDIO_DEMUXERS = 'mp3,ogg,flac,wav,w64,aac,matroska,webm,mov,mp4,m4a,3gp,3g2,mj2';

/**
 * Runs ffmpeg to completion, with a minimal environment (it parses untrusted input). Exit status
 * 0 resolves; anything else rejects as {@link ffmpegFailure} classifies it. An aborted signal
 * kills ffmpeg and rejects with the signal's reason.
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
    const child = spawn(ffmpegPath, args, {
      stdio: ['ignore', onStdout ? 'pipe' : 'ignore', 'pipe'],
      env: untrustedChildEnv(),
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 16384) stderr += chunk;
    });
    if (onStdout) child.stdout?.on('data', onStdout);
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: string | undefined;
    child.on('error', (err) => {
      spawnError = err.message;
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolve({ stderr });
      else reject(ffmpegFailure({ code, signal: killedBy, spawnError, stderr }, input, ffmpegPath));
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
