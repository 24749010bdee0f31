/**
 * Audio input for Whisper, after openai/whisper's `whisper/audio.py`: decode any file to 16 kHz
 * mono float PCM with ffmpeg, and compute the log-Mel spectrogram exactly as Whisper does
 * (STFT n_fft 400, hop 160, periodic Hann window, centred with reflect padding, last frame
 * dropped, power spectrum, Slaney Mel filters, log10, dynamic range clamp of 8, (x + 4) / 4).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../errors.ts';
import { resolveFfmpegPath } from '../audio/ffmpeg-path.ts';

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
  /** ffmpeg binary; default: resolveFfmpegPath() (FFMPEG_PATH, ffmpeg-static, PATH). */
  ffmpegPath?: string;
  sampleRate?: number;
  signal?: AbortSignal;
}

interface FfmpegJob {
  file: string;
  cmd: string;
  args: string[];
  input: string;
}

function ffmpegJob(file: string, opts: LoadAudioOptions): FfmpegJob | BadInputError {
  if (!existsSync(file)) return new BadInputError('no such file', file);
  if (statSync(file).isDirectory()) return new BadInputError('is a directory, not an audio file', file);
  const cmd = opts.ffmpegPath ?? resolveFfmpegPath(process.env.FFMPEG_PATH || undefined);
  // `file:` keeps names that look like protocols or options ("-x.mp3", "http:a.mp3") literal.
  const input = 'file:' + path.resolve(file);
  const sr = opts.sampleRate ?? SAMPLE_RATE;
  const args = [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-threads',
    '0',
    '-i',
    input,
    '-f',
    'f32le',
    '-ac',
    '1',
    '-ar',
    String(sr),
    '-',
  ];
  return { file, cmd, args, input };
}

/** PCM from ffmpeg's exit code, stderr and stdout; the errors name the file. */
function ffmpegResult(job: FfmpegJob, code: number, stderr: string, stdout: Buffer): Float32Array {
  if (code === -2)
    throw new Error(
      `ffmpeg could not be started as "${job.cmd}" (${stderr.trim()}; set FFMPEG_PATH) while decoding ${job.file}`,
    );
  if (code !== 0) {
    const lines = stderr.trim().split('\n').filter(Boolean);
    const why = lines.length
      ? lines.slice(-2).join(' / ').split(job.input).join(job.file)
      : `ffmpeg exited with ${code}`;
    throw new BadInputError(`cannot decode audio: ${why}`, job.file);
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
    const child = spawn(job.cmd, job.args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
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
      const child = spawn(process.execPath, [script], {
        stdio: ['pipe', 'pipe', 'inherit'],
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

// ---------------------------------------------------------------------------------------------
// Mel filters

/** Slaney-style Hz→Mel (librosa's default, htk=False). */
function hzToMel(f: number): number {
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logStep : f / fSp;
}

function melToHz(m: number): number {
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return m >= minLogMel ? minLogHz * Math.exp(logStep * (m - minLogMel)) : fSp * m;
}

/**
 * The Mel filter bank Whisper's `mel_filters.npz` holds (librosa.filters.mel(sr=16000, n_fft=400,
 * n_mels), Slaney scale and area normalisation), computed here: [nMels × 201] row-major.
 */
export function computeMelFilters(nMels = 80, sr = SAMPLE_RATE, nFft = N_FFT): Float32Array {
  const nFreq = nFft / 2 + 1;
  const fftFreqs = new Float64Array(nFreq);
  for (let i = 0; i < nFreq; i++) fftFreqs[i] = (i * sr) / nFft;
  const minMel = hzToMel(0);
  const maxMel = hzToMel(sr / 2);
  const melF = new Float64Array(nMels + 2);
  for (let i = 0; i < nMels + 2; i++) melF[i] = melToHz(minMel + ((maxMel - minMel) * i) / (nMels + 1));
  const out = new Float32Array(nMels * nFreq);
  for (let m = 0; m < nMels; m++) {
    const lowerW = melF[m + 1] - melF[m];
    const upperW = melF[m + 2] - melF[m + 1];
    const enorm = 2 / (melF[m + 2] - melF[m]);
    for (let k = 0; k < nFreq; k++) {
      const lower = (fftFreqs[k] - melF[m]) / lowerW;
      const upper = (melF[m + 2] - fftFreqs[k]) / upperW;
      const w = Math.max(0, Math.min(lower, upper));
      out[m * nFreq + k] = w * enorm;
    }
  }
  return out;
}

/**
 * Mel filters for a model: `mel_filters_{nMels}.bin` (float32 LE, nMels × 201) from the model
 * folder when it is there, else computed (identical to the official filters within 1e-6).
 */
export function loadMelFilters(modelDir: string | undefined, nMels = 80): Float32Array {
  if (modelDir) {
    const file = path.join(modelDir, `mel_filters_${nMels}.bin`);
    if (existsSync(file)) {
      const buf = readFileSync(file);
      if (buf.length !== nMels * N_FREQ * 4)
        throw new Error(`${file}: expected ${nMels}×${N_FREQ} float32 values, got ${buf.length} bytes`);
      const out = new Float32Array(nMels * N_FREQ);
      new Uint8Array(out.buffer).set(buf);
      return out;
    }
  }
  return computeMelFilters(nMels);
}

// ---------------------------------------------------------------------------------------------
// FFT: a 400-point real FFT as a 200-point complex FFT (mixed radix 5·5·4·2) plus the usual
// even/odd split.

class ComplexFFT {
  readonly n: number;
  private readonly factors: number[];
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly tmpRe = new Float64Array(8);
  private readonly tmpIm = new Float64Array(8);

  constructor(n: number) {
    this.n = n;
    const factors: number[] = [];
    let rest = n;
    for (const p of [4, 5, 3, 2]) {
      while (rest % p === 0) {
        factors.push(p);
        rest /= p;
      }
    }
    if (rest !== 1) throw new Error(`FFT size ${n} must factor into 2, 3, 4, 5`);
    this.factors = factors;
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.cos[i] = Math.cos((2 * Math.PI * i) / n);
      this.sin[i] = -Math.sin((2 * Math.PI * i) / n);
    }
  }

  /** Forward transform of (inRe, inIm) into (outRe, outIm); inputs are not modified. */
  transform(inRe: Float64Array, inIm: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.rec(inRe, inIm, 0, 1, outRe, outIm, 0, this.n, 0);
  }

  private rec(
    inRe: Float64Array,
    inIm: Float64Array,
    inOff: number,
    stride: number,
    outRe: Float64Array,
    outIm: Float64Array,
    outOff: number,
    n: number,
    fi: number,
  ): void {
    const p = this.factors[fi];
    const m = n / p;
    if (m === 1) {
      for (let q = 0; q < p; q++) {
        outRe[outOff + q] = inRe[inOff + q * stride];
        outIm[outOff + q] = inIm[inOff + q * stride];
      }
    } else {
      for (let q = 0; q < p; q++)
        this.rec(inRe, inIm, inOff + q * stride, stride * p, outRe, outIm, outOff + q * m, m, fi + 1);
    }
    // Butterflies: X[k + s·m] = Σ_q W_n^{q(k + s·m)} · Y_q[k]
    const N = this.n;
    const step = N / n; // twiddle W_n^j = W_N^{j·step}
    const cos = this.cos;
    const sin = this.sin;
    const tr = this.tmpRe;
    const ti = this.tmpIm;
    for (let k = 0; k < m; k++) {
      // twiddled inputs a_q = W_n^{q k} Y_q[k]
      for (let q = 0; q < p; q++) {
        const idx = outOff + q * m + k;
        const re = outRe[idx];
        const im = outIm[idx];
        const t = q * k * step; // < N: q < p, k < m, step = N / (p·m)
        const c = cos[t];
        const s = sin[t];
        tr[q] = re * c - im * s;
        ti[q] = re * s + im * c;
      }
      if (p === 2) {
        outRe[outOff + k] = tr[0] + tr[1];
        outIm[outOff + k] = ti[0] + ti[1];
        outRe[outOff + k + m] = tr[0] - tr[1];
        outIm[outOff + k + m] = ti[0] - ti[1];
      } else if (p === 4) {
        // W_4 = -i
        const aRe = tr[0] + tr[2];
        const aIm = ti[0] + ti[2];
        const bRe = tr[0] - tr[2];
        const bIm = ti[0] - ti[2];
        const cRe = tr[1] + tr[3];
        const cIm = ti[1] + ti[3];
        const dRe = tr[1] - tr[3];
        const dIm = ti[1] - ti[3];
        outRe[outOff + k] = aRe + cRe;
        outIm[outOff + k] = aIm + cIm;
        outRe[outOff + k + m] = bRe + dIm; // b + (-i)d
        outIm[outOff + k + m] = bIm - dRe;
        outRe[outOff + k + 2 * m] = aRe - cRe;
        outIm[outOff + k + 2 * m] = aIm - cIm;
        outRe[outOff + k + 3 * m] = bRe - dIm; // b + (i)d
        outIm[outOff + k + 3 * m] = bIm + dRe;
      } else {
        // generic small DFT (p = 3 or 5): X_s = Σ_q a_q W_p^{q s}
        const pStep = N / p;
        for (let s = 0; s < p; s++) {
          let re = tr[0];
          let im = ti[0];
          for (let q = 1, qs = s; q < p; q++, qs += s) {
            const t = (qs >= p ? qs % p : qs) * pStep;
            const c = cos[t];
            const sn = sin[t];
            re += tr[q] * c - ti[q] * sn;
            im += tr[q] * sn + ti[q] * c;
          }
          outRe[outOff + k + s * m] = re;
          outIm[outOff + k + s * m] = im;
        }
      }
    }
  }
}

/** Power spectrum |rfft(x)|² of one real frame of N_FFT samples (x already windowed). */
class RealPowerFFT {
  private readonly half = N_FFT / 2;
  private readonly fft = new ComplexFFT(N_FFT / 2);
  private readonly zRe = new Float64Array(N_FFT / 2);
  private readonly zIm = new Float64Array(N_FFT / 2);
  private readonly ZRe = new Float64Array(N_FFT / 2);
  private readonly ZIm = new Float64Array(N_FFT / 2);
  private readonly wCos = new Float64Array(N_FFT / 2 + 1);
  private readonly wSin = new Float64Array(N_FFT / 2 + 1);

  constructor() {
    for (let k = 0; k <= this.half; k++) {
      this.wCos[k] = Math.cos((2 * Math.PI * k) / N_FFT);
      this.wSin[k] = -Math.sin((2 * Math.PI * k) / N_FFT);
    }
  }

  /** `frame` has N_FFT values; writes N_FREQ powers into `power`. */
  power(frame: Float64Array, power: Float64Array): void {
    const M = this.half;
    const zRe = this.zRe;
    const zIm = this.zIm;
    for (let i = 0; i < M; i++) {
      zRe[i] = frame[2 * i];
      zIm[i] = frame[2 * i + 1];
    }
    this.fft.transform(zRe, zIm, this.ZRe, this.ZIm);
    const ZRe = this.ZRe;
    const ZIm = this.ZIm;
    for (let k = 0; k <= M; k++) {
      const a = k % M;
      const b = (M - k) % M;
      // E = (Z[k] + conj Z[M-k]) / 2 ; O = (Z[k] - conj Z[M-k]) / (2i)
      const eRe = 0.5 * (ZRe[a] + ZRe[b]);
      const eIm = 0.5 * (ZIm[a] - ZIm[b]);
      const dRe = 0.5 * (ZRe[a] - ZRe[b]);
      const dIm = 0.5 * (ZIm[a] + ZIm[b]);
      // O = d / i = -i·d = (dIm, -dRe)
      const oRe = dIm;
      const oIm = -dRe;
      const c = this.wCos[k];
      const s = this.wSin[k];
      const xRe = eRe + oRe * c - oIm * s;
      const xIm = eIm + oRe * s + oIm * c;
      power[k] = xRe * xRe + xIm * xIm;
    }
  }
}

let sharedFft: RealPowerFFT | undefined;
let hann: Float64Array | undefined;

function hannWindow(): Float64Array {
  if (!hann) {
    hann = new Float64Array(N_FFT);
    for (let i = 0; i < N_FFT; i++) hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N_FFT);
  }
  return hann;
}

/** Non-zero column range of each filter row, so the Mel product skips the zeros. */
const sparseCache = new WeakMap<Float32Array, { lo: Int32Array; hi: Int32Array }>();
function filterRanges(filters: Float32Array, nMels: number): { lo: Int32Array; hi: Int32Array } {
  let r = sparseCache.get(filters);
  if (!r) {
    const lo = new Int32Array(nMels);
    const hi = new Int32Array(nMels);
    for (let m = 0; m < nMels; m++) {
      let a = N_FREQ;
      let b = -1;
      for (let k = 0; k < N_FREQ; k++) {
        if (filters[m * N_FREQ + k] !== 0) {
          if (a === N_FREQ) a = k;
          b = k;
        }
      }
      lo[m] = a;
      hi[m] = b + 1;
    }
    r = { lo, hi };
    sparseCache.set(filters, r);
  }
  return r;
}

export interface LogMel {
  /** [nMels × nFrames] row-major (frames contiguous per Mel band), Whisper's layout. */
  data: Float32Array;
  nMels: number;
  nFrames: number;
}

/**
 * whisper.audio.log_mel_spectrogram(pcm, n_mels, padding): `padding` zero samples are appended
 * first (Whisper's transcribe() pads 30 s so that every window can be sliced); the result has
 * floor((len + padding) / 160) frames. For a single 30-second window pass `padOrTrim(pcm)`
 * (3000 frames).
 */
export function logMelSpectrogram(pcm: Float32Array, filters: Float32Array, padding = 0): LogMel {
  const nMels = filters.length / N_FREQ;
  if (!Number.isInteger(nMels)) throw new Error(`Mel filters must have ${N_FREQ} columns`);
  const len = pcm.length + padding;
  const pad = N_FFT / 2;
  if (len <= pad) throw new Error(`audio too short for the STFT: ${len} samples`);
  const nFrames = Math.floor(len / HOP_LENGTH); // 1 + floor(len / hop) frames, the last dropped
  const sample = (i: number): number => {
    // centred signal with reflect padding: index i in [-pad, len + pad)
    let j = i;
    if (j < 0) j = -j;
    else if (j >= len) j = 2 * (len - 1) - j;
    return j < pcm.length ? pcm[j] : 0;
  };
  const fft = (sharedFft ??= new RealPowerFFT());
  const win = hannWindow();
  const frame = new Float64Array(N_FFT);
  const power = new Float64Array(N_FREQ);
  const { lo, hi } = filterRanges(filters, nMels);
  const out = new Float32Array(nMels * nFrames);
  const logs = new Float64Array(nMels);
  let maxLog = -Infinity;
  const interiorEnd = pcm.length - N_FFT; // frames fully inside real samples need no index fix-up
  // Frames entirely inside appended zero padding (beyond the reflection) are digital silence.
  const silentFrom = padding > pad ? Math.ceil((pcm.length + pad) / HOP_LENGTH) : nFrames;
  for (let t = 0; t < nFrames; t++) {
    const start = t * HOP_LENGTH - pad;
    if (t >= silentFrom) {
      for (let m = 0; m < nMels; m++) out[m * nFrames + t] = -10; // log10(1e-10)
      if (-10 > maxLog) maxLog = -10;
      continue;
    }
    if (start >= 0 && start <= interiorEnd) {
      for (let i = 0; i < N_FFT; i++) frame[i] = pcm[start + i] * win[i];
    } else {
      for (let i = 0; i < N_FFT; i++) frame[i] = sample(start + i) * win[i];
    }
    fft.power(frame, power);
    for (let m = 0; m < nMels; m++) {
      let acc = 0;
      const row = m * N_FREQ;
      for (let k = lo[m]; k < hi[m]; k++) acc += filters[row + k] * power[k];
      const l = Math.log10(acc > 1e-10 ? acc : 1e-10);
      logs[m] = l;
      if (l > maxLog) maxLog = l;
    }
    for (let m = 0; m < nMels; m++) out[m * nFrames + t] = logs[m];
  }
  const floor = maxLog - 8;
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    out[i] = ((v > floor ? v : floor) + 4) / 4;
  }
  return { data: out, nMels, nFrames };
}

/**
 * One 30-second window of a whole-clip spectrogram: frames [seek, seek + size) then zero padding
 * to N_FRAMES, as `pad_or_trim(mel[:, seek:seek + size], N_FRAMES)` in whisper.transcribe.
 * Writes into `out` (nMels × N_FRAMES) when given.
 */
export function melWindow(mel: LogMel, seek: number, size: number, out?: Float32Array): Float32Array {
  const { nMels, nFrames, data } = mel;
  const dst = out ?? new Float32Array(nMels * N_FRAMES);
  const n = Math.max(0, Math.min(size, N_FRAMES, nFrames - seek));
  for (let m = 0; m < nMels; m++) {
    const src = m * nFrames + seek;
    dst.set(data.subarray(src, src + n), m * N_FRAMES);
    if (n < N_FRAMES) dst.fill(0, m * N_FRAMES + n, (m + 1) * N_FRAMES);
  }
  return dst;
}
