/**
 * Transcription of many clips at once, after openai/whisper `whisper/transcribe.py`.
 *
 * Every clip is cut into 30-second windows the way Whisper's transcribe() does it (one log-Mel
 * spectrogram per clip, padded with 30 s of silence; after each window the clip seeks to the last
 * complete timestamp). Windows of all clips share one queue: up to `batchSize` of them are
 * encoded (one at a time: the encoder is compute-bound) and decoded together in one batched
 * greedy loop with KV cache, and a clip's next window rejoins the queue to be batched with other
 * clips' windows. Each sequence is decoded independently of its batch neighbours, so a clip's
 * transcript does not depend on what it was batched with.
 *
 * Quality guards: temperature fallback (0, 0.2, …, 1.0) when a window's text is too repetitive
 * (gzip compression ratio > 2.4) or too unlikely (average log probability < -1), keeping the best
 * try when all fail; Whisper's silence rule (no-speech probability > 0.6 and log probability
 * < -1) plus the rules of `isNonSpeech` for music and noise; and the phrases Whisper is known to
 * hallucinate on silence or music ("Thank you for watching", "Subtitles by the Amara.org
 * community", …) are dropped when the window's no-speech probability is elevated. The rules are
 * in quality.ts, the phrases in hallucinations.ts, the windows and their queue in windows.ts.
 */
import * as ort from 'onnxruntime-node';
import type { TranscriptSegment } from '../manifest.ts';
import type { Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { AudioLoader, FRAMES_PER_SECOND, HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE } from './audio.ts';
import { loadMelFilters, logMelSpectrogram, melWindow } from './mel.ts';
import { decodeBatch, DecodingTask, TIME_PRECISION, type DecodingResult } from './decoding.ts';
import { WhisperModel, type WhisperDevice } from './model.ts';
import {
  bestOf,
  DEFAULT_TEMPERATURES,
  isNonSpeech,
  needsFallback,
  qualityThresholds,
  type QualityThresholds,
} from './quality.ts';
import { normalizeLanguage, Tokenizer } from './tokenizer.ts';
import { nextWindow, takeBatch, type Clip, type Window } from './windows.ts';
import { InGraphDecoder } from './in-graph-decoder.ts';
import type { WhisperDecoder } from './devices.ts';

export interface TranscriptionResult {
  file: string;
  /** Detected (or pinned) language code. */
  language: string;
  language_prob: number;
  text: string;
  segments: TranscriptSegment[];
  /** True when nothing was said (the text is empty). */
  no_speech: boolean;
  duration_s: number;
}

export interface TranscriptionError {
  file: string;
  error: string;
}

export interface TranscribeOptions {
  /** Pin the language (code or name); default: detected per clip from its first window. */
  language?: string;
  onProgress?(done: number, total: number): void;
  signal?: AbortSignal;
  /** This call's bound on audio held at once; default the engine's (EngineOptions). */
  maxBufferedSeconds?: number;
}

export interface EngineOptions {
  modelDir: string;
  device?: WhisperDevice;
  threads?: number;
  /**
   * 'loop' (default): the host drives the decoder token by token (decoding.ts). 'in-graph': greedy
   * windows with a known language are decoded in one onnxruntime run per batch
   * (in-graph-decoder.ts); language detection and temperature fallback stay in the loop.
   */
  decoder?: WhisperDecoder;
  /** Windows per decoder batch (default 8). */
  batchSize?: number;
  /** Windows per encoder run (default 1: as fast per window on CPU, and far less memory). */
  encoderBatchSize?: number;
  logger?: Logger;
  ffmpegPath?: string;
  /** Longest audio file transcribed (MAX_CLIP_SECONDS, default 600): a longer one is an error. */
  maxClipSeconds?: number;
  /**
   * Audio held as spectrograms at once, across the clips being transcribed (default 1800 s, about
   * 60 MB with 80 Mel bins): many long clips are then taken a few at a time instead of up to
   * three batches of them. Changes the order of the work, never a result.
   */
  maxBufferedSeconds?: number;
  /** Quality settings, Whisper's transcribe() defaults. */
  temperatures?: number[];
  compressionRatioThreshold?: number;
  logprobThreshold?: number;
  noSpeechThreshold?: number;
  // condition_on_previous_text is off (Whisper's default is on): no window is prompted with the
  // text before it, which keeps a hallucination from carrying over and every SOT sequence the
  // same length (so that any windows can share a batch).
}

const DEFAULT_MAX_BUFFERED_SECONDS = 1800;

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export class WhisperEngine {
  private busy: Promise<unknown> = Promise.resolve();
  /** The most audio (seconds, padding included) the last call held as spectrograms at once. */
  peakBufferedSeconds = 0;
  private readonly thresholds: QualityThresholds;

  private constructor(
    readonly model: WhisperModel,
    readonly tokenizer: Tokenizer,
    private readonly filters: Float32Array,
    private readonly audio: AudioLoader,
    readonly batchSize: number,
    private readonly opts: EngineOptions,
    /** WHISPER_DECODER=in-graph: the one-run-per-batch decoder (in-graph-decoder.ts). */
    readonly inGraph?: InGraphDecoder,
  ) {
    this.thresholds = qualityThresholds(opts);
  }

  static async load(opts: EngineOptions): Promise<WhisperEngine> {
    // The audio helper process starts while this process is still small (see AudioLoader).
    const audio = new AudioLoader({ ffmpegPath: opts.ffmpegPath, maxSeconds: opts.maxClipSeconds });
    try {
      const tokenizer = Tokenizer.fromModelDir(opts.modelDir);
      const model = await WhisperModel.load({
        modelDir: opts.modelDir,
        device: opts.device,
        threads: opts.threads,
        logger: opts.logger,
      });
      const filters = loadMelFilters(opts.modelDir, model.dims.nMels);
      const inGraph =
        opts.decoder === 'in-graph'
          ? await InGraphDecoder.load({
              modelDir: opts.modelDir,
              tokenizer,
              nVocab: model.dims.nVocab,
              nTextCtx: model.dims.nTextCtx,
              provider: model.provider,
              threads: opts.threads,
              logger: opts.logger,
            }).catch(async (err: unknown) => {
              await model.release();
              throw err;
            })
          : undefined;
      return new WhisperEngine(
        model,
        tokenizer,
        filters,
        audio,
        Math.max(1, opts.batchSize ?? 8),
        opts,
        inGraph,
      );
    } catch (err) {
      audio.close();
      throw err;
    }
  }

  get provider(): string {
    return this.model.provider;
  }

  /**
   * Transcribes `files`; the result has one entry per file, in order: a transcript, or
   * `{ file, error }` for a file that is missing or cannot be decoded. Calls on one engine run
   * one after another.
   */
  transcribeFiles(
    files: string[],
    opts: TranscribeOptions = {},
  ): Promise<Array<TranscriptionResult | TranscriptionError>> {
    const run = this.busy.then(() => this.run(files, opts));
    this.busy = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.busy;
    this.audio.close();
    await this.model.release();
    await this.inGraph?.release();
  }

  private async run(
    files: string[],
    opts: TranscribeOptions,
  ): Promise<Array<TranscriptionResult | TranscriptionError>> {
    const { signal } = opts;
    signal?.throwIfAborted();
    let pinned: string | undefined;
    if (opts.language) {
      pinned = normalizeLanguage(opts.language);
      if (!pinned || (this.tokenizer.isMultilingual && this.tokenizer.languageToken(pinned) === undefined)) {
        throw new Error(`unknown language "${opts.language}"`);
      }
      if (!this.tokenizer.isMultilingual && pinned !== 'en')
        throw new Error(`model ${this.opts.modelDir} is English-only; cannot transcribe "${pinned}"`);
    }
    const temperatures = this.opts.temperatures ?? DEFAULT_TEMPERATURES;
    const B = this.batchSize;
    const total = files.length;
    const results: Array<TranscriptionResult | TranscriptionError | undefined> = new Array(total);
    let finished = 0;
    // Mel frames of the clips between their decode and their last window, bounded (see pump).
    const maxHeldFrames =
      (opts.maxBufferedSeconds ?? this.opts.maxBufferedSeconds ?? DEFAULT_MAX_BUFFERED_SECONDS) *
      FRAMES_PER_SECOND;
    const heldBy = new Map<number, number>();
    let held = 0;
    this.peakBufferedSeconds = 0;
    const finish = (i: number, r: TranscriptionResult | TranscriptionError) => {
      results[i] = r;
      held -= heldBy.get(i) ?? 0;
      heldBy.delete(i);
      finished++;
      opts.onProgress?.(finished, total);
    };

    // Audio decoding runs ahead of the model in ffmpeg processes, a bounded number at a time.
    const queue: Window[] = [];
    let nextFile = 0;
    const loading = new Set<Promise<void>>();
    const maxLoading = 3;
    const startLoad = () => {
      const index = nextFile++;
      const file = files[index];
      const p = this.audio
        .load(file, signal)
        .then((pcm) => {
          const clip = this.newClip(index, file, pcm, pinned);
          if (clip.contentFrames <= 0) finish(index, this.clipResult(clip));
          else {
            heldBy.set(index, clip.mel.nFrames);
            held += clip.mel.nFrames;
            this.peakBufferedSeconds = Math.max(this.peakBufferedSeconds, held / FRAMES_PER_SECOND);
            queue.push(nextWindow(clip));
          }
        })
        .catch((err: unknown) => {
          if (signal?.aborted) return;
          finish(index, { file, error: errorMessage(err) });
        })
        .finally(() => {
          loading.delete(p);
          pump();
        });
      loading.add(p);
    };
    // Keep up to `maxLoading` decodes in flight while fewer than two batches are waiting and the
    // clips in flight hold less than maxBufferedSeconds of audio (a clip is at most
    // MAX_CLIP_SECONDS: what is held stays below the bound plus maxLoading clips).
    const pump = () => {
      while (
        !signal?.aborted &&
        nextFile < total &&
        loading.size < maxLoading &&
        queue.length + loading.size < 3 * B &&
        held < maxHeldFrames
      )
        startLoad();
    };

    for (;;) {
      signal?.throwIfAborted();
      pump();
      if (queue.length < B && loading.size > 0) {
        await Promise.race(loading);
        continue;
      }
      if (queue.length === 0) break;
      const batch = takeBatch(queue, B);
      pump();
      const outcomes = await this.runBatch(batch, temperatures, signal);
      batch.forEach((w, i) => {
        const r = outcomes[i];
        if (needsFallback(r, this.thresholds)) {
          w.tried.push(r);
          if (w.temperatureIndex + 1 < temperatures.length) {
            w.temperatureIndex++;
            queue.unshift(w); // retried in the next batch, with its encoder output kept
            return;
          }
        }
        w.features = undefined;
        this.applyWindow(w, w.tried.length === temperatures.length ? bestOf(w.tried, this.thresholds) : r);
        if (w.clip.seek < w.clip.contentFrames) queue.push(nextWindow(w.clip));
        else finish(w.clip.index, this.clipResult(w.clip));
      });
    }
    await Promise.allSettled([...loading]);
    signal?.throwIfAborted();
    return results.map((r, i) => r ?? { file: files[i], error: 'not transcribed' });
  }

  private newClip(index: number, file: string, pcm: Float32Array, language: string | undefined): Clip {
    const mel = logMelSpectrogram(pcm, this.filters, N_SAMPLES);
    return {
      index,
      file,
      mel,
      contentFrames: mel.nFrames - N_FRAMES,
      durationS: pcm.length / SAMPLE_RATE,
      seek: 0,
      language: language ?? (this.tokenizer.isMultilingual ? undefined : 'en'),
      languageProb: language || !this.tokenizer.isMultilingual ? 1 : 0,
      segments: [],
      rawText: '',
      seed: hashString(file),
    };
  }

  private newTask(w: Window, temperatures: number[]): DecodingTask {
    return new DecodingTask(
      this.tokenizer,
      {
        language: w.clip.language,
        temperature: temperatures[w.temperatureIndex],
        seed: (w.clip.seed ^ Math.imul(w.seek + 1, 2654435761) ^ w.temperatureIndex) >>> 0,
      },
      this.model.dims.nTextCtx,
    );
  }

  /** A batch's windows: greedy ones with a known language in-graph (when on), the rest in the loop. */
  private async runBatch(
    batch: Window[],
    temperatures: number[],
    signal?: AbortSignal,
  ): Promise<DecodingResult[]> {
    const inGraph = this.inGraph;
    if (!inGraph) return this.runLoopBatch(batch, temperatures, signal);
    const { nMels } = this.model.dims;
    const results: DecodingResult[] = new Array(batch.length);
    const rows = batch.map((w, i) => ({ w, i, task: this.newTask(w, temperatures) }));
    const graphRows = rows.filter((r) => inGraph.accepts(r.task));
    const loopRows = rows.filter((r) => !inGraph.accepts(r.task));
    if (graphRows.length > 0) {
      signal?.throwIfAborted();
      const size = nMels * N_FRAMES;
      const mel = new Float32Array(graphRows.length * size);
      graphRows.forEach((r, j) =>
        melWindow(r.w.clip.mel, r.w.seek, N_FRAMES, mel.subarray(j * size, (j + 1) * size)),
      );
      const out = await inGraph.decode(
        mel,
        nMels,
        graphRows.map((r) => r.task),
      );
      graphRows.forEach((r, j) => (results[r.i] = out[j]));
    }
    if (loopRows.length > 0) {
      const out = await this.runLoopBatch(
        loopRows.map((r) => r.w),
        temperatures,
        signal,
      );
      loopRows.forEach((r, j) => (results[r.i] = out[j]));
    }
    return results;
  }

  private async runLoopBatch(
    batch: Window[],
    temperatures: number[],
    signal?: AbortSignal,
  ): Promise<DecodingResult[]> {
    const { nMels, nAudioCtx, nAudioState } = this.model.dims;
    const per = nAudioCtx * nAudioState;
    // The encoder runs a few windows at a time: it is compute-bound (batching does not speed
    // it up) and its attention activations grow with the batch (~0.6 GB for 8 windows of base).
    const data = new Float32Array(batch.length * per);
    const fresh = batch.map((w, i) => [w, i] as const).filter(([w]) => !w.features);
    const eb = Math.max(1, this.opts.encoderBatchSize ?? 1);
    for (let k = 0; k < fresh.length; k += eb) {
      signal?.throwIfAborted();
      const group = fresh.slice(k, k + eb);
      const mel = new Float32Array(group.length * nMels * N_FRAMES);
      // The full 3000 frames from the padded whole-clip spectrogram, also for a last window
      // shorter than 30 s: the model was trained on audio padded with silence (whose log-Mel is
      // not 0). openai-whisper now zero-pads the spectrogram of a short last window instead;
      // silence padding is what its language detection and the Hugging Face feature extractor
      // see, and measured better on short clips (test/fixtures/whisper speech: fewer wrong languages).
      group.forEach(([w], j) =>
        melWindow(
          w.clip.mel,
          w.seek,
          N_FRAMES,
          mel.subarray(j * nMels * N_FRAMES, (j + 1) * nMels * N_FRAMES),
        ),
      );
      const encoded = (await this.model.encode(mel, group.length)).data as Float32Array;
      group.forEach(([, i], j) => data.set(encoded.subarray(j * per, (j + 1) * per), i * per));
    }
    batch.forEach((w, i) => {
      if (w.features) data.set(w.features, i * per);
    });
    const features = new ort.Tensor('float32', data, [batch.length, nAudioCtx, nAudioState]);
    const tasks = batch.map((w) => this.newTask(w, temperatures));
    // SOT sequences differ in length only between detecting and pinned multilingual rows: both
    // are [sot, lang, task], so one batch always works.
    const results = await decodeBatch(this.model, features, tasks, { signal });
    // keep encoder outputs of rows that may need a fallback
    batch.forEach((w, i) => {
      if (
        !w.features &&
        needsFallback(results[i], this.thresholds) &&
        w.temperatureIndex + 1 < temperatures.length
      ) {
        w.features = (features.data as Float32Array).slice(i * per, (i + 1) * per);
      }
    });
    return results;
  }

  /** Whisper's per-window bookkeeping: silence skip, segments from timestamp pairs, seek. */
  private applyWindow(w: Window, r: DecodingResult): void {
    const clip = w.clip;
    if (w.seek === 0 && clip.language === undefined) {
      clip.language = r.language;
      clip.languageProb = r.languageProbs?.[r.language] ?? 0;
    }
    const frames = w.segmentSize;
    this.opts.logger?.debug(
      {
        file: clip.file,
        seek: w.seek,
        temperature: r.temperature,
        tries: w.tried.length,
        avg_logprob: round4(r.avgLogprob),
        no_speech_prob: round4(r.noSpeechProb),
        compression_ratio: round4(r.compressionRatio),
        text: r.text,
      },
      'whisper window',
    );
    const allFailed = w.tried.length >= (this.opts.temperatures ?? DEFAULT_TEMPERATURES).length;
    if (isNonSpeech(r, w.tried.length, allFailed, this.thresholds)) {
      clip.seek += frames; // silence, noise or music: skip the window
      return;
    }
    const tb = this.tokenizer.timestampBegin;
    const tokens = r.tokens;
    const timeOffset = (w.seek * HOP_LENGTH) / SAMPLE_RATE;
    const inputStride = N_FRAMES / this.model.dims.nAudioCtx; // 2 mel frames per token
    const isTs = tokens.map((t) => t >= tb);
    const singleTimestampEnding = tokens.length >= 2 && !isTs[tokens.length - 2] && isTs[tokens.length - 1];
    const consecutive: number[] = [];
    for (let i = 1; i < tokens.length; i++) if (isTs[i] && isTs[i - 1]) consecutive.push(i);
    const produced: Array<{ start: number; end: number; tokens: number[] }> = [];
    if (consecutive.length > 0) {
      const slices = [...consecutive];
      if (singleTimestampEnding) slices.push(tokens.length);
      let last = 0;
      for (const cur of slices) {
        const sliced = tokens.slice(last, cur);
        produced.push({
          start: timeOffset + (sliced[0] - tb) * TIME_PRECISION,
          end: timeOffset + (sliced[sliced.length - 1] - tb) * TIME_PRECISION,
          tokens: sliced,
        });
        last = cur;
      }
      if (singleTimestampEnding) clip.seek += frames;
      else clip.seek += (tokens[last - 1] - tb) * inputStride;
    } else {
      let duration = (frames * HOP_LENGTH) / SAMPLE_RATE;
      const ts = tokens.filter((t) => t >= tb);
      if (ts.length > 0 && ts[ts.length - 1] !== tb) duration = (ts[ts.length - 1] - tb) * TIME_PRECISION;
      produced.push({ start: timeOffset, end: timeOffset + duration, tokens });
      clip.seek += frames;
    }
    const end = clip.durationS;
    for (const s of produced) {
      const raw = this.tokenizer.decode(s.tokens.filter((t) => t < this.tokenizer.eot));
      if (s.start === s.end || raw.trim() === '') continue;
      clip.rawText += raw;
      clip.segments.push({
        start: round2(Math.min(s.start, end)),
        end: round2(Math.min(s.end, end)),
        text: raw.trim(),
        avg_logprob: round4(r.avgLogprob),
        no_speech_prob: round4(r.noSpeechProb),
      });
    }
  }

  private clipResult(clip: Clip): TranscriptionResult {
    const text = clip.rawText.trim();
    return {
      file: clip.file,
      language: clip.language ?? 'en',
      language_prob: round4(clip.languageProb),
      text,
      segments: clip.segments,
      no_speech: text === '',
      duration_s: round2(clip.durationS),
    };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}
