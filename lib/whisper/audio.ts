/**
 * Audio input for Whisper, after openai/whisper's `whisper/audio.py`: the audio constants, and
 * decoding any file to 16 kHz mono float PCM with ffmpeg (loadAudio, or AudioLoader for many
 * files). The log-Mel spectrogram is in mel.ts, the FFT it uses in fft.ts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { untrustedChildEnv } from '../config.ts';
import { BadInputError } from '../errors.ts';
import { resolveFfmpegPath } from '../audio/ffmpeg-path.ts';
import { AUDIO_DEMUXERS, ffmpegFailure, pinnedInput, type FfmpegExit } from '../audio/run-ffmpeg.ts';

export const SAMPLE_RATE = 16000;
export const N_FFT = 400;
export const HOP_LENGTH = 160;
export const CHUNK_LENGTH = 30;
/** Samples in one 30-second window. */
export const N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE; // 480000
/** Mel frames in one 30-second window. */
export const N_FRAMES = N_SAMPLES / HOP_LENGTH; // 3000
/** Frequency bins of the one-sided spectrum. */
export const N_FREQ = N_FFT / 2 + 1; // 201
export const FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH; // 100

export interface LoadAudioOptions {
  /** ffmpeg binary (config.ffmpegPath); default: resolveFfmpegPath() (ffmpeg-static, PATH). */
  ffmpegPath?: string;
  sampleRate?: number;
  signal?: AbortSignal;
  /** Longest audio decoded (MAX_CLIP_SECONDS); a longer file is BadInputError. Default 600. */
  maxSeconds?: number;
}

export const DEFAULT_MAX_SECONDS = 600;

interface FfmpegJob {
  file: string;
  cmd: string;
  args: string[];
  maxSeconds: number;
}

function ffmpegJob(file: string, opts: LoadAudioOptions): FfmpegJob | BadInputError {
  if (!existsSync(file)) return new BadInputError('no such file', file);
  if (statSync(file).isDirectory()) return new BadInputError('is a directory, not an audio file', file);
  const cmd = opts.ffmpegPath ?? resolveFfmpegPath();
  const sr = opts.sampleRate ?? SAMPLE_RATE;
  const maxSeconds = opts.maxSeconds ?? DEFAULT_MAX_SECONDS;
  const args = [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-threads',
    '0',
    // Plain audio containers only, from this one file (no playlists naming other files).
    ...pinnedInput(file, { allowed: AUDIO_DEMUXERS }),
    // One second more than allowed: enough to tell a file that is too long, never more.
    '-t',
    String(maxSeconds + 1),
    '-f',
    'f32le',
    '-ac',
    '1',
    '-ar',
    String(sr),
    '-',
  ];
  return { file, cmd, args, maxSeconds };
}

/**
 * PCM from ffmpeg's exit code (-1: killed by a signal, -2: could not start, as the helper
 * reports them), stderr and stdout; failures are classified by the one ffmpeg runner
 * (lib/audio/run-ffmpeg.ts), so a full disk is retryable here as in convert.
 */
function ffmpegResult(job: FfmpegJob, code: number, stderr: string, stdout: Buffer): Float32Array {
  if (code !== 0) {
    const exit: FfmpegExit =
      code === -2
        ? { code: null, spawnError: stderr.trim(), stderr: '' }
        : code === -1
          ? { code: null, signal: 'a signal', stderr }
          : { code, stderr };
    throw ffmpegFailure(exit, job.file, job.cmd, 'cannot decode audio');
  }
  if (stdout.length > (job.maxSeconds + 0.5) * SAMPLE_RATE * 4) {
    throw new BadInputError(`longer than the limit of ${job.maxSeconds} s (MAX_CLIP_SECONDS)`, job.file);
  }
  const n = Math.floor(stdout.length / 4);
  const pcm = new Float32Array(n);
  // Copy into a fresh, aligned buffer (a Buffer may be a view at an odd offset).
  new Uint8Array(pcm.buffer).set(stdout.subarray(0, n * 4));
  return pcm;
}

/**
 * Decodes `file` to mono float32 PCM at 16 kHz with ffmpeg (`-nostdin -i file -f f32le -ac 1
 * -ar 16000 -`). A missing file, or one ffmpeg cannot decode, rejects with a BadInputError whose
 * message starts with the file name.
 */
export function loadAudio(file: string, opts: LoadAudioOptions = {}): Promise<Float32Array> {
  const job = ffmpegJob(file, opts);
  if (job instanceof Error) return Promise.reject(job);
  return new Promise((resolve, reject) => {
    const child = spawn(job.cmd, job.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
      env: untrustedChildEnv(),
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    let failed: Error | undefined;
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 8192) stderr += c.toString('utf8');
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      failed = err.name === 'AbortError' ? err : undefined;
      if (!failed) stderr = `${err.code ?? ''} ${err.message}`;
    });
    child.on('close', (code) => {
      if (failed) return reject(failed);
      try {
        resolve(
          ffmpegResult(job, code ?? (stderr && !chunks.length ? -2 : -1), stderr, Buffer.concat(chunks)),
        );
      } catch (err) {
        reject(err);
      }
    });
  });
}

/**
 * Decodes many files through one helper process (lib/whisper/ffmpeg-helper.mjs) that spawns the
 * ffmpeg processes: a process holding a Whisper model is large, and every spawn from it blocks its
 * event loop for tens of milliseconds (fork copies its page tables). Start it before loading the
 * model. Falls back to spawning directly if the helper cannot run.
 */
export class AudioLoader {
  private helper?: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<
    number,
    { job: FfmpegJob; resolve: (pcm: Float32Array) => void; reject: (err: Error) => void }
  >();
  private nextId = 1;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = 16;

  constructor(private readonly opts: LoadAudioOptions = {}) {
    try {
      const script = fileURLToPath(new URL('./ffmpeg-helper.mjs', import.meta.url));
      // A minimal environment: the helper and the ffmpeg processes it starts parse untrusted audio.
      const child = spawn(process.execPath, [script], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: untrustedChildEnv(),
      }) as unknown as ChildProcessWithoutNullStreams;
      child.on('error', () => this.fail(new Error('audio helper process failed')));
      child.on('exit', () => this.fail(new Error('audio helper process exited')));
      child.stdout.on('data', (c: Buffer) => this.onData(c));
      child.stdin.on('error', () => undefined);
      this.helper = child;
      this.idle();
    } catch {
      this.helper = undefined;
    }
  }

  load(file: string, signal?: AbortSignal): Promise<Float32Array> {
    const helper = this.helper;
    if (!helper) return loadAudio(file, { ...this.opts, signal });
    if (signal?.aborted) return Promise.reject(signal.reason);
    const job = ffmpegJob(file, this.opts);
    if (job instanceof Error) return Promise.reject(job);
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      const onAbort = () => {
        if (this.pending.delete(id)) {
          helper.stdin.write(JSON.stringify({ id, kill: true }) + '\n');
          reject(signal?.reason);
          if (this.pending.size === 0) this.idle();
        }
      };
      // Every clip in flight listens (as many as the buffered-audio cap allows): more than
      // Node's default of 10 listeners per signal is expected here, not a leak.
      if (signal) setMaxListeners(0, signal);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        job,
        resolve: (pcm) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(pcm);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      this.busy();
      helper.stdin.write(JSON.stringify({ id, cmd: job.cmd, args: job.args }) + '\n');
    });
  }

  close(): void {
    const helper = this.helper;
    this.helper = undefined;
    if (helper) {
      helper.stdin.end();
      helper.kill();
    }
  }

  private busy(): void {
    this.helper?.ref();
    (this.helper?.stdout as unknown as { ref?: () => void })?.ref?.();
  }

  private idle(): void {
    // An idle helper must not keep the parent process alive.
    this.helper?.unref();
    (this.helper?.stdout as unknown as { unref?: () => void })?.unref?.();
    (this.helper?.stdin as unknown as { unref?: () => void })?.unref?.();
  }

  private fail(err: Error): void {
    if (!this.helper) return;
    this.helper = undefined;
    // Requests in flight are retried by spawning directly.
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      loadAudio(p.job.file, this.opts).then(p.resolve, p.reject);
    }
    void err;
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    // `need`: bytes of the current frame (16 until its header is known), so that a large frame
    // arriving in many chunks is joined once.
    while (this.buffered >= this.need) {
      let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [buf];
      const total = 16 + buf.readUInt32LE(8) + buf.readUInt32LE(12);
      if (this.buffered < total) {
        this.need = total;
        return;
      }
      const id = buf.readUInt32LE(0);
      const code = buf.readInt32LE(4);
      const errEnd = 16 + buf.readUInt32LE(8);
      const stderr = buf.toString('utf8', 16, errEnd);
      const stdout = buf.subarray(errEnd, total);
      const p = this.pending.get(id);
      if (p) {
        this.pending.delete(id);
        try {
          p.resolve(ffmpegResult(p.job, code, stderr, stdout));
        } catch (err) {
          p.reject(err as Error);
        }
      }
      buf = buf.subarray(total);
      this.chunks = buf.length ? [buf] : [];
      this.buffered = buf.length;
      this.need = 16;
      if (this.pending.size === 0) this.idle();
    }
  }
}

/** Pads with zeros or trims `pcm` to `length` samples (whisper.audio.pad_or_trim). */
export function padOrTrim(pcm: Float32Array, length = N_SAMPLES): Float32Array {
  if (pcm.length === length) return pcm;
  if (pcm.length > length) return pcm.subarray(0, length);
  const out = new Float32Array(length);
  out.set(pcm);
  return out;
}
