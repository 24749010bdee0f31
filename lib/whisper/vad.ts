/**
 * Voice activity detection before the decoder: Silero VAD v6 (the ONNX file faster-whisper 1.2.1
 * ships, fetched with the model: lib/model-supply/vad-asset.ts) run by onnxruntime-node, then the
 * speech regions merged into chunks of at most 30 s that the engine decodes one by one.
 *
 * The model reads 16 kHz audio in frames of 512 samples, each preceded by the last 64 samples of
 * the frame before it (zeros before the first), and carries an LSTM state (h, c: 1×1×128) from
 * frame to frame; this export takes a whole sequence of frames in one run and returns one speech
 * probability per frame. Turning the probabilities into regions follows the rules of
 * faster-whisper's `get_speech_timestamps` (after snakers4/silero-vad) with the settings its
 * BatchedInferencePipeline uses: a region starts at a frame ≥ 0.5, ends after 160 ms below 0.35,
 * is split before 30 s (at its last pause of ≥ 98 ms when there is one), and is padded by
 * 400 ms each side (half the gap when two regions are closer than 800 ms). Chunks are then formed
 * as WhisperX's `merge_chunks` does: consecutive regions are joined, with the pauses between
 * them, while the span stays within 30 s, so a chunk is one contiguous stretch of the clip and its
 * times are the clip's times shifted by its start.
 */
import * as ort from 'onnxruntime-node';
import { SAMPLE_RATE } from './audio.ts';

/** Samples per VAD frame at 16 kHz (32 ms). */
export const VAD_FRAME = 512;
/** Samples of the previous frame the model sees before each frame. */
const VAD_CONTEXT = 64;
const STATE_SIZE = 128;
/** Frames per model run: the sequence is carried across runs by the LSTM state. */
const FRAMES_PER_RUN = 10_000;

export interface VadOptions {
  /** A frame with a speech probability at or above this starts (or continues) speech. */
  threshold: number;
  /** Below this, a frame counts as silence (default threshold - 0.15, at least 0.01). */
  negThreshold?: number;
  /** Regions shorter than this are dropped. */
  minSpeechMs: number;
  /** A region is split before it gets longer than this (padding included). */
  maxSpeechS: number;
  /** Silence that ends a region. */
  minSilenceMs: number;
  /** Added before and after each region. */
  speechPadMs: number;
}

/** faster-whisper BatchedInferencePipeline's VAD settings (chunk_length 30 s). */
export const DEFAULT_VAD_OPTIONS: VadOptions = {
  threshold: 0.5,
  minSpeechMs: 0,
  maxSpeechS: 30,
  minSilenceMs: 160,
  speechPadMs: 400,
};

/** A stretch of a clip, in samples at 16 kHz: [start, end). */
export interface SampleRange {
  start: number;
  end: number;
}

export class SileroVad {
  private constructor(private readonly session: ort.InferenceSession) {}

  /** Loads the model; one thread, as faster-whisper runs it (it is small and sequential). */
  static async load(modelPath: string): Promise<SileroVad> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, {
        executionProviders: ['cpu'],
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        enableCpuMemArena: false,
        logSeverityLevel: 4,
      });
    } catch (err) {
      throw new Error(`cannot load the VAD model ${modelPath}: ${(err as Error).message}`);
    }
    return new SileroVad(session);
  }

  /** One speech probability per 512-sample frame of `pcm` (16 kHz mono; the last frame zero-padded). */
  async speechProbabilities(pcm: Float32Array): Promise<Float32Array> {
    const frames = Math.ceil(pcm.length / VAD_FRAME);
    const probs = new Float32Array(frames);
    const row = VAD_CONTEXT + VAD_FRAME;
    let h: ort.Tensor = new ort.Tensor('float32', new Float32Array(STATE_SIZE), [1, 1, STATE_SIZE]);
    let c: ort.Tensor = new ort.Tensor('float32', new Float32Array(STATE_SIZE), [1, 1, STATE_SIZE]);
    for (let first = 0; first < frames; first += FRAMES_PER_RUN) {
      const n = Math.min(FRAMES_PER_RUN, frames - first);
      const input = new Float32Array(n * row);
      for (let k = 0; k < n; k++) {
        const at = (first + k) * VAD_FRAME;
        const ctxStart = Math.max(0, at - VAD_CONTEXT);
        // context: the 64 samples before the frame (zeros before the clip starts)
        input.set(pcm.subarray(ctxStart, at), k * row + VAD_CONTEXT - (at - ctxStart));
        input.set(pcm.subarray(at, Math.min(pcm.length, at + VAD_FRAME)), k * row + VAD_CONTEXT);
      }
      const out = await this.session.run({
        input: new ort.Tensor('float32', input, [n, row]),
        h,
        c,
      });
      probs.set(out.speech_probs.data as Float32Array, first);
      h = out.hn;
      c = out.cn;
    }
    return probs;
  }

  /** The speech regions of `pcm` (see speechRegions). */
  async detect(pcm: Float32Array, opts: VadOptions = DEFAULT_VAD_OPTIONS): Promise<SampleRange[]> {
    if (pcm.length === 0) return [];
    return speechRegions(await this.speechProbabilities(pcm), pcm.length, opts);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Speech regions from per-frame probabilities (frame i covers samples 512·i …), for a clip of
 * `length` samples, by the rules described at the top of this file.
 */
export function speechRegions(
  probs: ArrayLike<number>,
  length: number,
  opts: VadOptions = DEFAULT_VAD_OPTIONS,
): SampleRange[] {
  const on = opts.threshold;
  const off = opts.negThreshold ?? Math.max(on - 0.15, 0.01);
  const pad = (SAMPLE_RATE * opts.speechPadMs) / 1000;
  const minSpeech = (SAMPLE_RATE * opts.minSpeechMs) / 1000;
  const minSilence = (SAMPLE_RATE * opts.minSilenceMs) / 1000;
  // Longest region before padding, so that a padded region stays within maxSpeechS.
  const maxSpeech = SAMPLE_RATE * opts.maxSpeechS - VAD_FRAME - 2 * pad;
  // A pause this long inside a region is a place to split it when it grows too long.
  const splitPause = (SAMPLE_RATE * 98) / 1000;

  const regions: SampleRange[] = [];
  let inSpeech = false;
  let start = 0;
  /** Where the silence now running began (0: none running). */
  let silenceFrom = 0;
  /** End of the last long-enough pause in the current region, and where speech resumed after it. */
  let lastPauseEnd = 0;
  let resumedAt = 0;

  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    const at = VAD_FRAME * i;
    if (p >= on && silenceFrom) {
      silenceFrom = 0;
      if (resumedAt < lastPauseEnd) resumedAt = at;
    }
    if (p >= on && !inSpeech) {
      inSpeech = true;
      start = at;
      continue;
    }
    if (inSpeech && at - start > maxSpeech) {
      if (lastPauseEnd) {
        // split at the last pause; speech continues from where it resumed, if it has
        regions.push({ start, end: lastPauseEnd });
        if (resumedAt < lastPauseEnd) inSpeech = false;
        else start = resumedAt;
        lastPauseEnd = resumedAt = silenceFrom = 0;
      } else {
        // no pause to split at: cut here
        regions.push({ start, end: at });
        lastPauseEnd = resumedAt = silenceFrom = 0;
        inSpeech = false;
        continue;
      }
    }
    if (p < off && inSpeech) {
      if (!silenceFrom) silenceFrom = at;
      if (at - silenceFrom > splitPause) lastPauseEnd = silenceFrom;
      if (at - silenceFrom < minSilence) continue;
      if (silenceFrom - start > minSpeech) regions.push({ start, end: silenceFrom });
      lastPauseEnd = resumedAt = silenceFrom = 0;
      inSpeech = false;
    }
  }
  if (inSpeech && length - start > minSpeech) regions.push({ start, end: length });

  // Padding: each side by `pad`, or half the gap when two regions are closer than 2·pad.
  regions.forEach((r, i) => {
    if (i === 0) r.start = Math.trunc(Math.max(0, r.start - pad));
    const next = regions[i + 1];
    if (!next) {
      r.end = Math.trunc(Math.min(length, r.end + pad));
      return;
    }
    const gap = next.start - r.end;
    if (gap < 2 * pad) {
      const half = Math.floor(gap / 2);
      r.end += half;
      next.start = Math.trunc(Math.max(0, next.start - half));
    } else {
      r.end = Math.trunc(Math.min(length, r.end + pad));
      next.start = Math.trunc(Math.max(0, next.start - pad));
    }
  });
  return regions;
}

/**
 * Joins consecutive regions (with the audio between them) into chunks spanning at most
 * `maxSamples`, as WhisperX's merge_chunks does; a region longer than that stays a chunk of its own.
 */
export function mergeIntoChunks(regions: SampleRange[], maxSamples: number): SampleRange[] {
  const chunks: SampleRange[] = [];
  let current: SampleRange | undefined;
  for (const r of regions) {
    if (current && r.end - current.start > maxSamples) {
      chunks.push(current);
      current = undefined;
    }
    current = current ? { start: current.start, end: r.end } : { ...r };
  }
  if (current) chunks.push(current);
  return chunks;
}
