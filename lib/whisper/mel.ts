/**
 * Whisper's log-Mel spectrogram, after openai/whisper's `whisper/audio.py`, computed exactly as
 * Whisper does (STFT n_fft 400, hop 160, periodic Hann window, centred with reflect padding, last
 * frame dropped, power spectrum, Slaney Mel filters, log10, dynamic range clamp of 8,
 * (x + 4) / 4), and the 30-second windows the model reads from it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HOP_LENGTH, N_FFT, N_FRAMES, N_FREQ, SAMPLE_RATE } from './audio.ts';
import { RealPowerFFT } from './fft.ts';

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
// Spectrogram

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
  const fft = (sharedFft ??= new RealPowerFFT(N_FFT));
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
