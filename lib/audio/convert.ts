import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { forEachConcurrent } from '../concurrency.ts';
import { BadInputError, errorMessage } from '../errors.ts';
import { sha256File } from '../file-hash.ts';
import { oggOpusDurationS } from './ogg-duration.ts';
import { checkInputFile, pinnedInput, runFfmpeg } from './run-ffmpeg.ts';
import { replaceAtomically } from '../atomic-file.ts';

/** DESIGN.md §1 convert stage: MP3 → Opus 32 kbps, mono, 16 kHz, no metadata, in Ogg. */
export interface ConvertOptions {
  ffmpegPath: string;
  signal?: AbortSignal;
  /** Longest clip converted (MAX_CLIP_SECONDS); default 600. A longer one is BadInputError. */
  maxClipSeconds?: number;
}

export const DEFAULT_MAX_CLIP_SECONDS = 600;

/**
 * The output side of the conversion: Opus 32 kbps mono 16 kHz in Ogg, no metadata. -f ogg: the
 * output is a pipe, with no extension to guess the container from. bitexact: a fixed Ogg serial
 * number and no version tag, so converting again gives the same bytes.
 */
export const OPUS_OUTPUT_ARGS: readonly string[] = [
  '-vn',
  '-map_metadata',
  '-1',
  '-c:a',
  'libopus',
  '-b:a',
  '32k',
  '-ac',
  '1',
  '-ar',
  '16000',
  '-fflags',
  '+bitexact',
  '-flags:a',
  '+bitexact',
  '-f',
  'ogg',
];

export interface ConvertResult {
  bytes: number;
  /** Duration of the Opus output, from its Ogg granule positions. */
  durationS: number;
  /** sha256 of the Opus file, hex. */
  sha256: string;
}

/**
 * Converts one clip, writing `output` atomically (temp name in the same folder, then rename).
 * An empty, missing or undecodable input throws BadInputError with ffmpeg's reason; an input
 * that decodes to no audio at all does too.
 *
 * The input is read as MP3 and nothing else (the contract's format; `-f mp3`, file protocol
 * only), and at most `maxClipSeconds` + 1 s of it is encoded (`-t`): a clip that turns out
 * longer fails with that reason, so a 1 MB file holding 50 h of audio costs seconds, not hours.
 * No separate probe runs first: a header's duration is an estimate an input controls, and `-t`
 * bounds the work whatever it says.
 */
export async function convertToOpus(
  input: string,
  output: string,
  options: ConvertOptions,
): Promise<ConvertResult> {
  await checkInputFile(input);
  const maxSeconds = options.maxClipSeconds ?? DEFAULT_MAX_CLIP_SECONDS;
  return replaceAtomically(
    output,
    async (tmp) => {
      await ffmpegToFile(tmp, (onStdout) =>
        runFfmpeg(
          options.ffmpegPath,
          [
            '-nostdin',
            '-hide_banner',
            '-v',
            'error',
            '-y',
            ...pinnedInput(input, { demuxer: 'mp3' }),
            '-t',
            String(maxSeconds + 1),
            ...OPUS_OUTPUT_ARGS,
            'pipe:1',
          ],
          input,
          { signal: options.signal, onStdout },
        ),
      );
      const result = await describeOpus(tmp);
      if (!result) throw new BadInputError('no audio could be decoded', input);
      if (result.durationS > maxSeconds + 0.5) {
        throw new BadInputError(`longer than the limit of ${maxSeconds} s (MAX_CLIP_SECONDS)`, input);
      }
      return result;
    },
    { signal: options.signal },
  );
}

/**
 * Runs `run` (an ffmpeg writing to stdout) and writes what it prints to `file`. ffmpeg writes
 * through a pipe rather than to the file itself so that it cannot outlive this process: when a
 * worker is killed (SIGKILL, OOM, a preempted node) the pipe's reading end closes with it, and
 * ffmpeg's next write fails (EPIPE) and ends it — no orphan keeps converting for a dead worker.
 * A failed write (disk full) is reported after ffmpeg ends, as a plain, retryable error.
 */
async function ffmpegToFile(
  file: string,
  run: (onStdout: (chunk: Buffer) => void) => Promise<unknown>,
): Promise<void> {
  const out = createWriteStream(file);
  let writeError: Error | undefined;
  out.on('error', (err) => (writeError ??= err));
  try {
    await run((chunk) => {
      if (!writeError) out.write(chunk);
    });
  } finally {
    await new Promise<void>((resolve) => out.end(resolve));
  }
  if (writeError) throw new Error(`cannot write ${file}: ${writeError.message}`);
}

/**
 * Size, duration and sha256 of a finished Opus file, or null when there is none or it holds no
 * audio. Outputs are renamed into place only when complete, so a file found here after a crash
 * is whole: a retried conversion keeps it instead of converting again.
 */
export async function describeOpus(file: string): Promise<ConvertResult | null> {
  const info = await stat(file).catch(() => null);
  if (!info?.isFile()) return null;
  const durationS = await oggOpusDurationS(file);
  if (durationS === null || durationS <= 0) return null;
  return { bytes: info.size, durationS: Math.round(durationS * 1000) / 1000, sha256: await sha256File(file) };
}

export interface ConvertItem {
  input: string;
  output: string;
}

export type ConvertOutcome =
  | (ConvertResult & ConvertItem)
  | (ConvertItem & {
      error: string;
      /** true: the clip itself is bad (will never convert); false: a machine problem worth a retry. */
      badInput: boolean;
    });

export interface ConvertAllOptions extends ConvertOptions {
  /** ffmpeg processes at once; one per core by default. */
  concurrency?: number;
  /** After each clip: clips finished so far (successes and failures), the total, the failures. */
  onProgress?: (done: number, total: number, failed: number) => void;
}

/**
 * Converts many clips with a pool of `concurrency` ffmpeg processes. Returns one outcome per
 * item, in input order; a failing clip never stops the others. If `signal` aborts, running
 * conversions are killed, no new one starts, and the call rejects with the signal's reason.
 */
export async function convertAll(
  items: ConvertItem[],
  options: ConvertAllOptions,
): Promise<ConvertOutcome[]> {
  const { signal, onProgress } = options;
  const outcomes: ConvertOutcome[] = new Array(items.length);
  let done = 0;
  let failed = 0;
  await forEachConcurrent(
    items,
    options.concurrency ?? os.availableParallelism(),
    async (item, index) => {
      try {
        const result = await convertToOpus(item.input, item.output, options);
        outcomes[index] = { ...item, ...result };
      } catch (err) {
        if (signal?.aborted) return;
        failed++;
        outcomes[index] = { ...item, error: errorMessage(err), badInput: err instanceof BadInputError };
      }
      done++;
      onProgress?.(done, items.length, failed);
    },
    signal,
  );
  return outcomes;
}
