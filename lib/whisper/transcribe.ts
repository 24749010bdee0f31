/**
 * Transcription of many clips at once, after openai/whisper `whisper/transcribe.py`.
 *
 * With a VAD model (vad.ts) a clip is first cut into chunks: its speech, merged into stretches of
 * at most 30 s; a clip without speech is done at once (empty text) and never reaches the model.
 * Without one, the whole clip is one chunk. Every chunk is cut into 30-second windows the way
 * Whisper's transcribe() cuts a clip (one log-Mel spectrogram per chunk, padded with 30 s of
 * silence; after each window the chunk seeks to the last complete timestamp), and its segment
 * times are shifted by the chunk's start. With the VAD (a chunk is at most one window) the
 * windows are decoded without timestamp tokens by default, as WhisperX decodes VAD chunks: the
 * words are timed from the cross-attention of the decoding (timing.ts) and the text is cut into
 * sentences (sentences.ts), one segment each (`segmentTimestamps`). The language is detected
 * from a clip's first chunk before its other chunks are queued. Windows of all chunks of all
 * clips share one queue: up to `batchSize` of them are encoded (one at a time: the encoder is
 * compute-bound; on the CPU in a process of its own, the next batch's windows while this one
 * decodes, and queued windows while clips load) and decoded together in one batched
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
import { ConfigError, errorMessage } from '../errors.ts';
import {
  buildPack,
  fitsPack,
  isPackable,
  PACK_CAPACITY_FRAMES,
  packFrames,
  packLoudness,
  unpack,
} from './packing.ts';
import { probeLanguages, type ProbedLanguage } from './language-probe.ts';
import { untilAborted } from './abort.ts';
import type { MemberOutcome, Pack } from './packing.ts';
import { AudioLoader, FRAMES_PER_SECOND, HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE } from './audio.ts';
import { loadMelFilters, logMelSpectrogram, melWindow, type LogMel } from './mel.ts';
import { decodeBatch, DecodingTask, TIME_PRECISION, type DecodingResult } from './decoding.ts';
import { WhisperModel, type WhisperDevice } from './model.ts';
import type { WhisperCompute } from './compute.ts';
import {
  bestOf,
  DEFAULT_TEMPERATURES,
  isNonSpeech,
  needsFallback,
  qualityThresholds,
  type QualityThresholds,
} from './quality.ts';
import { normalizeLanguage, Tokenizer } from './tokenizer.ts';
import { DEFAULT_VAD_OPTIONS, mergeIntoChunks, SileroVad, type SampleRange, type VadOptions } from './vad.ts';
import { nextWindow, peekBatch, takeBatch, type Chunk, type Clip, type Window } from './windows.ts';
import { InGraphDecoder } from './in-graph-decoder.ts';
import type { WhisperDecoder } from './devices.ts';
import { attentionFrames, round2, round4, WordAligner, type ProducedSegment } from './timing.ts';

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
  /** Weights to run (WHISPER_COMPUTE; default fp32): see compute.ts. */
  compute?: WhisperCompute;
  threads?: number;
  /**
   * 'loop' (default): the host drives the decoder token by token (decoding.ts). 'in-graph': greedy
   * windows with a known language are decoded in one onnxruntime run per batch
   * (in-graph-decoder.ts); language detection, temperature fallback and word timing stay in the loop.
   */
  decoder?: WhisperDecoder;
  /** Windows per decoder batch (default 8). */
  batchSize?: number;
  /**
   * Encode the next batch's windows in a process of their own while a batch decodes (default: on
   * the CPU provider; WhisperModel's `encoderProcess`). Changes no result, only the timing.
   */
  encoderProcess?: boolean;
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
  /**
   * Silero VAD model (silero_vad_v6.onnx, lib/model-supply/vad-asset.ts): when given, only the
   * speech it finds is decoded, in chunks of at most 30 s (WHISPER_VAD); without it every clip is
   * decoded whole, window after window.
   */
  vadModel?: string;
  vadOptions?: VadOptions;
  /** Quality settings, Whisper's transcribe() defaults. */
  temperatures?: number[];
  compressionRatioThreshold?: number;
  logprobThreshold?: number;
  noSpeechThreshold?: number;
  /**
   * Keep every word's times in the segments (`words`; timing.ts). With segment timestamps, one
   * more decoder pass per window; without, the words are timed anyway (see segmentTimestamps).
   */
  wordTimestamps?: boolean;
  /**
   * false: windows are decoded without timestamp tokens (<|notimestamps|>), as faster-whisper's
   * BatchedInferencePipeline and WhisperX decode VAD chunks; the words are timed from the
   * cross-attention the decoding computed anyway (timing.ts, no extra decoder pass) and the text
   * is cut into sentences (sentences.ts), one segment each. Fewer tokens to decode, and fewer
   * windows spent resuming where a window's text ended too early (only where the VAD heard more
   * than RESUME_SPEECH_S of speech after it). true: Whisper's own segments, from
   * its timestamp tokens. Default: false with the VAD, the loop decoder and a model converted
   * with cross-attention outputs; true otherwise (the seek loop over whole clips needs them).
   */
  segmentTimestamps?: boolean;
  /**
   * Speech chunks of at most 20 s (short clips, short stretches of long ones) of a known
   * language share 30-s windows, a second of silence apart (packing.ts; WHISPER_PACK). Default: on wherever segments are sentences (the VAD and
   * timed words are what packing needs) and the decoder's K/V are on the host.
   */
  packClips?: boolean;
  // condition_on_previous_text is off (Whisper's default is on): no window is prompted with the
  // text before it, which keeps a hallucination from carrying over and every SOT sequence the
  // same length (so that any windows can share a batch).
}

const DEFAULT_MAX_BUFFERED_SECONDS = 1800;
/** Speech the VAD heard after a window's text ended that makes the next window start there. */
const RESUME_SPEECH_S = 1.5;

/** A chunk to decode: where it is in the clip, and (with the VAD) the speech regions in it. */
interface ChunkPlan {
  range: SampleRange;
  speech?: SampleRange[];
}

/** What the VAD did in the last call (all zero when it is off). */
export interface VadStats {
  /** Clips the VAD ran on, and those in which it found no speech (never decoded). */
  clips: number;
  clipsWithoutSpeech: number;
  audioSeconds: number;
  /** Seconds of audio in the chunks sent to the decoder. */
  chunkSeconds: number;
  chunks: number;
}

/** What packing did in the last call. */
export interface PackStats {
  packs: number;
  /** Chunks packed (short clips, short stretches of long ones), and those of them decoded
   * again on their own (packing.ts says why). */
  packedChunks: number;
  decodedAlone: number;
  /** Clips whose language a probe found so that they could be packed (language-probe.ts). */
  probes: number;
}

function emptyVadStats(): VadStats {
  return { clips: 0, clipsWithoutSpeech: 0, audioSeconds: 0, chunkSeconds: 0, chunks: 0 };
}

/**
 * FNV-1a of a clip's samples: the seed of its sampling at temperature > 0, so that a clip gives
 * the same text wherever its file is (a retried activity extracts to a new folder).
 */
function hashSamples(pcm: Float32Array): number {
  const bits = new Uint32Array(pcm.buffer, pcm.byteOffset, pcm.length);
  let h = 2166136261;
  for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 16777619);
  return h >>> 0;
}

export class WhisperEngine {
  private busy: Promise<unknown> = Promise.resolve();
  /** The most audio (seconds, padding included) the last call held as spectrograms at once. */
  peakBufferedSeconds = 0;
  /** What the VAD did in the last call. */
  vadStats: VadStats = emptyVadStats();
  packStats: PackStats = { packs: 0, packedChunks: 0, decodedAlone: 0, probes: 0 };
  private readonly thresholds: QualityThresholds;
  private readonly aligner: WordAligner | undefined;
  /** Segments are sentences timed by the words (segmentTimestamps false), not timestamp tokens. */
  readonly sentenceSegments: boolean;
  /** Short clips share windows (packing.ts). */
  readonly packsClips: boolean;
  /** Clips without a language are packed after a language probe (language-probe.ts). */
  readonly probesLanguage: boolean;
  /** Why the language probe failed, if it did: it is not tried again by this engine. */
  probeFailure: string | undefined;

  private constructor(
    readonly model: WhisperModel,
    readonly tokenizer: Tokenizer,
    private readonly filters: Float32Array,
    private readonly audio: AudioLoader,
    readonly batchSize: number,
    private readonly opts: EngineOptions,
    private readonly vad: SileroVad | undefined,
    /** WHISPER_DECODER=in-graph: the one-run-per-batch decoder (in-graph-decoder.ts). */
    readonly inGraph?: InGraphDecoder,
  ) {
    this.thresholds = qualityThresholds(opts);
    this.sentenceSegments =
      opts.segmentTimestamps === undefined
        ? vad !== undefined && inGraph === undefined && model.hasCrossAttentions
        : !opts.segmentTimestamps;
    if (opts.segmentTimestamps === false && (vad === undefined || inGraph !== undefined))
      throw new ConfigError(
        vad === undefined
          ? 'segments without timestamp tokens need the VAD (WHISPER_VAD=1): without it a clip is decoded in 30-s windows that resume where a text ended, which only timestamp tokens tell'
          : 'segments without timestamp tokens need WHISPER_DECODER=loop: the in-graph decoder keeps the attention to itself',
      );
    if (opts.wordTimestamps || this.sentenceSegments) {
      if (!model.hasCrossAttentions)
        throw new ConfigError(
          `${opts.wordTimestamps ? 'word timestamps' : 'segments without timestamp tokens'}: the Whisper model in ${opts.modelDir} was converted without cross-attention outputs; convert it again (audio-pipeline model fetch)`,
        );
      this.aligner = WordAligner.forModel(model, tokenizer);
    }
    const canPack = this.sentenceSegments && !model.keepsKvOnDevice;
    if (opts.packClips && !canPack)
      throw new ConfigError(
        'packing short clips (WHISPER_PACK=1) needs segments without timestamp tokens (the VAD, WHISPER_SEGMENTS=auto or sentences) and a device other than webgpu (which keeps the decoder cache to itself): the words of a pack are handed back to its clips by their times',
      );
    this.packsClips = opts.packClips ?? canPack;
    this.probesLanguage = this.packsClips && tokenizer.isMultilingual && model.encodesAnyLength;
    if (this.packsClips && tokenizer.isMultilingual && !model.encodesAnyLength)
      opts.logger?.info(
        { model: opts.modelDir },
        'whisper: the model was converted before language probes (converter version < 3): clips without a language are not packed; `audio-pipeline model fetch` or `model import` converts it again',
      );
  }

  static async load(opts: EngineOptions): Promise<WhisperEngine> {
    // The audio helper process starts while this process is still small (see AudioLoader).
    const audio = new AudioLoader({ ffmpegPath: opts.ffmpegPath, maxSeconds: opts.maxClipSeconds });
    // Whatever was loaded is released if a later step fails: the encoder may be a child process,
    // which would otherwise live on, unnoticed, until this process exits.
    let model: WhisperModel | undefined;
    let vad: SileroVad | undefined;
    try {
      const tokenizer = Tokenizer.fromModelDir(opts.modelDir);
      model = await WhisperModel.load({
        modelDir: opts.modelDir,
        device: opts.device,
        compute: opts.compute,
        threads: opts.threads,
        logger: opts.logger,
        encoderProcess: opts.encoderProcess,
      });
      const filters = loadMelFilters(opts.modelDir, model.dims.nMels);
      vad = opts.vadModel ? await SileroVad.load(opts.vadModel) : undefined;
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
            })
          : undefined;
      try {
        return new WhisperEngine(
          model,
          tokenizer,
          filters,
          audio,
          Math.max(1, opts.batchSize ?? 8),
          opts,
          vad,
          inGraph,
        );
      } catch (err) {
        await inGraph?.release();
        throw err;
      }
    } catch (err) {
      audio.close();
      await vad?.release().catch(() => undefined);
      await model?.release().catch(() => undefined);
      throw err;
    }
  }

  /** True when clips go through the VAD first. */
  get usesVad(): boolean {
    return this.vad !== undefined;
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
    await this.vad?.release();
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
    let held = 0;
    this.peakBufferedSeconds = 0;
    this.vadStats = emptyVadStats();
    const finish = (i: number, r: TranscriptionResult | TranscriptionError) => {
      results[i] = r;
      finished++;
      opts.onProgress?.(finished, total);
    };
    const release = (chunk: Chunk) => {
      held -= chunk.mel?.nFrames ?? 0;
      chunk.mel = undefined;
    };
    this.packStats = { packs: 0, packedChunks: 0, decodedAlone: 0, probes: 0 };
    // Short chunks wait here for others to share a window with (packing.ts), until the next one
    // would not fit or no clip is left to load. They join packs in the order of `files` (a clip's
    // wait for those before it to load, at most maxLoading), so that the same files make the
    // same packs, and the same texts, in every run.
    // One open pack per language (a window has one language token), in the order they opened.
    // Their spectrograms (each member's with its 30 s of padding) may hold at most half the
    // memory bound: beyond it the oldest closes. A rule on the file order, so that the packs do
    // not depend on when the bound stops the loading (which depends on the decoding's pace).
    const packing = new Map<string, Chunk[]>();
    const maxPackingFrames = maxHeldFrames / 2;
    let packingFrames = 0;
    const loaded = new Map<number, Chunk[]>(); // by file index: its chunks to pack
    let nextToPack = 0;
    const closePack = (language: string) => {
      const members = packing.get(language) ?? [];
      packing.delete(language);
      for (const m of members) packingFrames -= m.mel?.nFrames ?? 0;
      if (members.length === 1) queue.push(nextWindow(members[0]));
      else if (members.length > 1) {
        const pack = buildPack(members);
        held += pack.mel?.nFrames ?? 0;
        this.peakBufferedSeconds = Math.max(this.peakBufferedSeconds, held / FRAMES_PER_SECOND);
        this.packStats.packs++;
        this.packStats.packedChunks += members.length;
        queue.push(nextWindow(pack));
      }
    };
    const closePacks = () => {
      for (const language of [...packing.keys()]) closePack(language);
    };
    const addToPack = (chunk: Chunk) => {
      const language = chunk.clip.language as string;
      const members = packing.get(language) ?? [];
      if (members.length > 0 && packFrames([...members, chunk]) > PACK_CAPACITY_FRAMES) closePack(language);
      packing.set(language, [...(packing.get(language) ?? []), chunk]);
      packingFrames += chunk.mel?.nFrames ?? 0;
      while (packingFrames > maxPackingFrames && packing.size > 1)
        closePack(packing.keys().next().value as string);
    };
    const markLoaded = (index: number, chunks: Chunk[]) => {
      loaded.set(index, chunks);
      for (; loaded.has(nextToPack); nextToPack++) {
        for (const chunk of loaded.get(nextToPack) ?? []) addToPack(chunk);
        loaded.delete(nextToPack);
      }
    };

    // A loaded clip's chunks go to the queue, to packing, or (the first, without a language) to
    // detect the language before the others.
    const admit = (clip: Clip) => {
      const packable = this.packsClips ? clip.chunks.filter((c) => isPackable(c)) : [];
      const [first, ...rest] = clip.chunks;
      if (clip.language === undefined) clip.waiting = rest;
      for (const chunk of clip.language === undefined ? [first] : clip.chunks)
        if (!packable.includes(chunk)) queue.push(nextWindow(chunk));
      markLoaded(clip.index, packable);
    };
    // Clips without a language with a chunk that would be packed wait here for a language probe
    // (language-probe.ts), a batch of them at a time; they hold back the packing of the clips
    // after them (markLoaded), not the decoding of others.
    const probing: Clip[] = [];
    const probe = async () => {
      const clips = probing.splice(0);
      let found: ProbedLanguage[] = [];
      try {
        found = await probeLanguages(
          this.model,
          this.tokenizer,
          clips.map((c) => c.chunks[0].mel as LogMel),
          signal,
        );
      } catch (err) {
        if (signal?.aborted) throw err;
        // An encoder that takes 30-s windows only (made elsewhere than by our converter): the
        // clips are decoded as without packing, each detecting its language in its own window.
        this.probeFailure = errorMessage(err);
        this.opts.logger?.warn(
          { err: this.probeFailure, model: this.opts.modelDir },
          'whisper: the language probe failed; clips without a language are not packed from now on',
        );
      }
      this.packStats.probes += found.length;
      clips.forEach((clip, i) => {
        if (found[i]) {
          clip.language = found[i].language;
          clip.languageProb = found[i].probability;
        }
        admit(clip);
      });
    };

    // Audio decoding runs ahead of the model in ffmpeg processes, a bounded number at a time.
    const queue: Window[] = [];
    let nextFile = 0;
    const loading = new Set<Promise<void>>();
    const maxLoading = 3;
    const startLoad = () => {
      const index = nextFile++;
      const file = files[index];
      let gated = false;
      const p = this.audio
        .load(file, signal)
        .then(async (pcm) => {
          const ranges = await this.chunkRanges(pcm);
          signal?.throwIfAborted();
          const clip = this.newClip(index, file, pcm, ranges, pinned);
          if (clip.chunks.length === 0) {
            finish(index, this.clipResult(clip)); // nothing to decode: no speech
            return;
          }
          for (const chunk of clip.chunks) held += chunk.mel?.nFrames ?? 0;
          this.peakBufferedSeconds = Math.max(this.peakBufferedSeconds, held / FRAMES_PER_SECOND);
          gated = true;
          if (
            this.probesLanguage &&
            !this.probeFailure &&
            clip.language === undefined &&
            clip.chunks.some(fitsPack)
          )
            probing.push(clip);
          else admit(clip);
          // while a batch decodes, the encoder starts on the next batch's windows as they come
          this.encodeAhead([], queue);
        })
        .catch((err: unknown) => {
          if (signal?.aborted) return;
          finish(index, { file, error: errorMessage(err) });
        })
        .finally(() => {
          if (!gated) markLoaded(index, []); // nothing to pack: the next clip may go
          loading.delete(p);
          pump();
        });
      loading.add(p);
    };
    // Keep up to `maxLoading` decodes in flight while fewer than two batches are waiting and the
    // clips in flight hold less than maxBufferedSeconds of audio (a clip is at most
    // MAX_CLIP_SECONDS: what is held stays below the bound plus maxLoading clips).
    const mayLoad = () =>
      !signal?.aborted &&
      nextFile < total &&
      loading.size < maxLoading &&
      queue.length + loading.size + probing.length < 3 * B &&
      held < maxHeldFrames;
    const pump = () => {
      while (mayLoad()) startLoad();
    };

    try {
      for (;;) {
        signal?.throwIfAborted();
        pump();
        // a batch of probes, or fewer where no other clip can load before they are done
        if (probing.length >= B || (probing.length > 0 && loading.size === 0)) {
          await probe();
          continue;
        }
        // the last pack; or, where the memory bound stops the loading with nothing else to do, the
        // pack so far (its clips' spectrograms hold what the bound counts)
        if (loading.size === 0 && (nextFile >= total || queue.length === 0)) closePacks();
        if (queue.length < B && loading.size > 0) {
          // the encoder would idle while clips load (at the start, a whole batch of them)
          this.encodeAhead([], queue);
          await Promise.race(loading);
          continue;
        }
        if (queue.length === 0) break;
        const batch = takeBatch(queue, B);
        pump();
        this.encodeAhead(batch, queue);
        const outcomes = await this.runBatch(batch, temperatures, signal);
        for (const [i, w] of batch.entries()) {
          const r = outcomes[i];
          if (needsFallback(packJudged(w, r), this.thresholds)) {
            w.tried.push(r);
            // word timing keeps the attention (up to ~10 MB) of the try bestOf would pick now
            // only: the best of one more try is that one or the new one
            const best = bestOf(w.tried, this.thresholds);
            for (const t of w.tried) if (t !== best) t.attention = undefined;
            if (w.temperatureIndex + 1 < temperatures.length) {
              w.temperatureIndex++;
              queue.unshift(w); // retried in the next batch, with its encoder output kept
              continue;
            }
          }
          const produced = this.applyWindow(
            w,
            w.tried.length === temperatures.length ? bestOf(w.tried, this.thresholds) : r,
          );
          if (this.aligner && produced.length > 0 && w.features)
            await this.aligner.addWords(
              {
                features: w.features,
                language: w.chunk.clip.language ?? 'en',
                mel: w.chunk.mel as LogMel,
                seek: w.seek,
                frames: w.segmentSize,
                timeOffset: w.chunk.offsetS + (w.seek * HOP_LENGTH) / SAMPLE_RATE,
                stream: w.chunk,
              },
              produced,
            );
          w.features = undefined;
          const { chunk } = w;
          const { clip } = chunk;
          if (clip.language !== undefined && clip.waiting.length > 0) {
            for (const c of clip.waiting.splice(0)) queue.push(nextWindow(c));
          }
          if (chunk.seek < chunk.contentFrames) queue.push(nextWindow(chunk));
          else if (chunk.pack) {
            release(chunk);
            for (const o of this.unpackChunk(chunk)) {
              if (o.alone) queue.push(nextWindow(o.chunk));
              else {
                release(o.chunk);
                const member = o.chunk.clip;
                if (--member.chunksLeft === 0) finish(member.index, this.clipResult(member));
              }
            }
          } else {
            release(chunk);
            if (--clip.chunksLeft === 0) finish(clip.index, this.clipResult(clip));
          }
        }
      }
    } catch (err) {
      this.model.cancelEncodes(); // windows encoded ahead that will not be decoded now
      throw err;
    }
    await Promise.allSettled([...loading]);
    signal?.throwIfAborted();
    return results.map((r, i) => r ?? { file: files[i], error: 'not transcribed' });
  }

  /**
   * The stretches of `pcm` to decode: the VAD's speech merged into chunks of at most 30 s (none
   * when it hears no speech), or the whole clip when the VAD is off.
   */
  private async chunkRanges(pcm: Float32Array): Promise<ChunkPlan[]> {
    if (!this.vad) return pcm.length > 0 ? [{ range: { start: 0, end: pcm.length } }] : [];
    const regions = await this.vad.detect(pcm, this.opts.vadOptions ?? DEFAULT_VAD_OPTIONS);
    const chunks = mergeIntoChunks(regions, N_SAMPLES);
    const stats = this.vadStats;
    stats.clips++;
    stats.audioSeconds += pcm.length / SAMPLE_RATE;
    if (chunks.length === 0) stats.clipsWithoutSpeech++;
    stats.chunks += chunks.length;
    for (const c of chunks) stats.chunkSeconds += (c.end - c.start) / SAMPLE_RATE;
    return chunks.map((range) => ({
      range,
      speech: regions.filter((r) => r.start >= range.start && r.end <= range.end),
    }));
  }

  private newClip(
    index: number,
    file: string,
    pcm: Float32Array,
    plans: ChunkPlan[],
    language: string | undefined,
  ): Clip {
    const clip: Clip = {
      index,
      file,
      durationS: pcm.length / SAMPLE_RATE,
      language: language ?? (this.tokenizer.isMultilingual ? undefined : 'en'),
      languageProb: language || !this.tokenizer.isMultilingual ? 1 : 0,
      chunks: [],
      chunksLeft: 0,
      waiting: [],
      seed: hashSamples(pcm),
    };
    for (const { range: r, speech } of plans) {
      // Each chunk gets its own spectrogram, padded with 30 s of silence as Whisper pads a clip.
      const mel = logMelSpectrogram(pcm.subarray(r.start, r.end), this.filters, N_SAMPLES);
      const contentFrames = mel.nFrames - N_FRAMES;
      if (contentFrames <= 0) continue;
      clip.chunks.push({
        clip,
        offsetS: r.start / SAMPLE_RATE,
        endS: r.end / SAMPLE_RATE,
        mel,
        contentFrames,
        speech: speech?.map((s) => [
          ((s.start - r.start) / SAMPLE_RATE) * FRAMES_PER_SECOND,
          ((s.end - r.start) / SAMPLE_RATE) * FRAMES_PER_SECOND,
        ]),
        seek: 0,
        segments: [],
        rawText: '',
      });
    }
    clip.chunksLeft = clip.chunks.length;
    return clip;
  }

  private newTask(w: Window, temperatures: number[]): DecodingTask {
    const { clip } = w.chunk;
    // the window's place in the clip, in mel frames: a seed independent of the batching
    const at = Math.round(w.chunk.offsetS * FRAMES_PER_SECOND) + w.seek;
    return new DecodingTask(
      this.tokenizer,
      {
        language: clip.language,
        temperature: temperatures[w.temperatureIndex],
        seed: (clip.seed ^ Math.imul(at + 1, 2654435761) ^ w.temperatureIndex) >>> 0,
        withoutTimestamps: this.sentenceSegments,
        attentionFrames: this.sentenceSegments
          ? attentionFrames(w.segmentSize, this.model.dims.nAudioCtx)
          : undefined,
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
    // Word timing needs every window's encoder output (timestamp segments) or the attention of
    // its decoding (sentence segments), which the in-graph run keeps to itself.
    if (!inGraph || this.aligner) return this.runLoopBatch(batch, temperatures, signal);
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
        melWindow(r.w.chunk.mel as LogMel, r.w.seek, N_FRAMES, mel.subarray(j * size, (j + 1) * size)),
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
    const { nAudioCtx, nAudioState } = this.model.dims;
    const per = nAudioCtx * nAudioState;
    for (const w of batch) {
      signal?.throwIfAborted();
      this.startEncode(w);
      // A session of this process blocks it until the run returns: one window at a time, so
      // that I/O (heartbeats, audio decoding) gets a turn between windows.
      if (!this.model.encodesInProcess) await w.encoding;
    }
    const encoded = await untilAborted(
      Promise.all(batch.map((w) => w.features ?? (w.encoding as Promise<Float32Array>))),
      signal,
    );
    const data = new Float32Array(batch.length * per);
    encoded.forEach((e, i) => data.set(e, i * per));
    const features = new ort.Tensor('float32', data, [batch.length, nAudioCtx, nAudioState]);
    const tasks = batch.map((w) => this.newTask(w, temperatures));
    // SOT sequences differ in length only between detecting and pinned multilingual rows: both
    // are [sot, lang, task], so one batch always works.
    const results = await decodeBatch(this.model, features, tasks, {
      signal,
      alignmentHeads: this.sentenceSegments ? this.aligner?.heads : undefined,
    });
    // keep encoder outputs of rows that may need a fallback, or all of them for addWords' pass
    batch.forEach((w, i) => {
      w.encoding = undefined;
      w.features =
        (this.aligner && !this.sentenceSegments) ||
        (needsFallback(packJudged(w, results[i]), this.thresholds) &&
          w.temperatureIndex + 1 < temperatures.length)
          ? encoded[i]
          : undefined;
    });
    return results;
  }

  /**
   * Starts encoding `w` (one window per encoder run: the encoder is compute-bound, batching does
   * not speed it up, and its attention activations grow with the batch). The full 3000 frames
   * from the padded whole-clip spectrogram, also for a last window shorter than 30 s: the model
   * was trained on audio padded with silence (whose log-Mel is not 0). openai-whisper now
   * zero-pads the spectrogram of a short last window instead; silence padding is what its
   * language detection and the Hugging Face feature extractor see, and measured better on short
   * clips (test/fixtures/whisper speech: fewer wrong languages).
   */
  private startEncode(w: Window): void {
    if (w.features || w.encoding) return;
    const { nMels } = this.model.dims;
    const mel = melWindow(w.chunk.mel as LogMel, w.seek, N_FRAMES, new Float32Array(nMels * N_FRAMES));
    w.encoding = this.model.encode(mel, 1).then((t) => t.data as Float32Array);
    w.encoding.catch(() => undefined); // awaited (and its error reported) when its batch runs
  }

  /**
   * With the encoder in its own process, encodes the windows that would make the next batch while
   * `batch` decodes: the decoder is bound by memory traffic and leaves the CPU partly idle. At
   * most a batch of windows is encoded ahead (their outputs are held until decoded), and none
   * for the in-graph decoder, which encodes inside its own run.
   */
  private encodeAhead(batch: Window[], queue: Window[]): void {
    if (!this.model.encodesInProcess || (this.inGraph && !this.aligner)) return;
    for (const w of batch) this.startEncode(w);
    let room = this.batchSize - queue.filter((w) => w.encoding && w.temperatureIndex === 0).length;
    for (const w of peekBatch(queue, this.batchSize)) {
      if (room <= 0) break;
      if (w.features || w.encoding) continue;
      this.startEncode(w);
      room--;
    }
  }

  /**
   * Whisper's per-window bookkeeping: silence skip, segments from timestamp pairs, seek. Returns
   * the segments added to the chunk, with their tokens.
   */
  private applyWindow(w: Window, r: DecodingResult): ProducedSegment[] {
    const { chunk } = w;
    const { clip } = chunk;
    if (w.seek === 0 && clip.language === undefined) {
      clip.language = r.language;
      clip.languageProb = r.languageProbs?.[r.language] ?? 0;
    }
    const frames = w.segmentSize;
    this.opts.logger?.debug(
      {
        file: clip.file,
        chunk_offset: round2(chunk.offsetS),
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
      if (chunk.pack) chunk.pack.failed = 'a window of the pack was judged non-speech';
      chunk.seek += frames; // silence, noise or music: skip the window
      return [];
    }
    const timeOffset = chunk.offsetS + (w.seek * HOP_LENGTH) / SAMPLE_RATE;
    if (this.sentenceSegments) {
      this.addSentences(w, r, timeOffset);
      return [];
    }
    const tb = this.tokenizer.timestampBegin;
    const tokens = r.tokens;
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
      if (singleTimestampEnding)
        chunk.seek += this.consumedFrames(w, (tokens[tokens.length - 1] - tb) * inputStride);
      else chunk.seek += (tokens[last - 1] - tb) * inputStride;
    } else {
      let duration = (frames * HOP_LENGTH) / SAMPLE_RATE;
      const ts = tokens.filter((t) => t >= tb);
      if (ts.length > 0 && ts[ts.length - 1] !== tb) duration = (ts[ts.length - 1] - tb) * TIME_PRECISION;
      produced.push({ start: timeOffset, end: timeOffset + duration, tokens });
      chunk.seek += this.consumedFrames(w, ts.length > 0 ? (ts[ts.length - 1] - tb) * inputStride : 0);
    }
    const end = chunk.endS;
    const added: ProducedSegment[] = [];
    for (const s of produced) {
      const raw = this.tokenizer.decode(s.tokens.filter((t) => t < this.tokenizer.eot));
      if (s.start === s.end || raw.trim() === '') continue;
      chunk.rawText += raw;
      const segment = {
        start: round2(Math.min(s.start, end)),
        end: round2(Math.min(s.end, end)),
        text: raw.trim(),
        avg_logprob: round4(r.avgLogprob),
        no_speech_prob: round4(r.noSpeechProb),
      };
      chunk.segments.push(segment);
      added.push({ segment, tokens: s.tokens });
    }
    return added;
  }

  /**
   * A window decoded without timestamps: its text cut into sentences, each a segment spanning its
   * words (with `words` when word timestamps are on). A window whose attention does not cover its
   * text (cut at sampleLen without an end of text) is one segment spanning the window.
   */
  private addSentences(w: Window, r: DecodingResult, timeOffset: number): void {
    const { chunk } = w;
    const raw = this.tokenizer.decode(r.tokens.filter((t) => t < this.tokenizer.eot));
    if (raw.trim() === '') {
      chunk.seek += w.segmentSize;
      return;
    }
    chunk.rawText += raw;
    const end = chunk.endS;
    const quality = { avg_logprob: round4(r.avgLogprob), no_speech_prob: round4(r.noSpeechProb) };
    const timed = (this.aligner as WordAligner).sentences(
      {
        language: chunk.clip.language ?? 'en',
        mel: chunk.mel as LogMel,
        seek: w.seek,
        frames: w.segmentSize,
        timeOffset,
        stream: chunk,
        loudness: chunk.pack ? packLoudness(chunk, w.seek, w.segmentSize) : undefined,
      },
      r,
    );
    const sentences = timed?.sentences ?? [];
    if (!timed || sentences.length === 0) {
      if (chunk.pack) chunk.pack.failed = 'its words could not be timed in the pack';
      chunk.seek += w.segmentSize;
      const windowEnd = timeOffset + (w.segmentSize * HOP_LENGTH) / SAMPLE_RATE;
      chunk.segments.push({
        start: round2(Math.min(timeOffset, end)),
        end: round2(Math.min(windowEnd, end)),
        text: raw.trim(),
        ...quality,
      });
      return;
    }
    // Without timestamp tokens the text ends where the alignment put its end: an end of text
    // with more speech after it resumes there, as at a last timestamp (consumedFrames).
    chunk.seek += this.consumedFrames(w, Math.round((timed.textEnd - timeOffset) * FRAMES_PER_SECOND));
    if (chunk.pack) {
      const q = { avgLogprob: quality.avg_logprob, noSpeechProb: quality.no_speech_prob };
      for (const words of sentences) for (const x of words) chunk.pack.words.push({ ...x, ...q });
      return;
    }
    for (const words of sentences) {
      chunk.segments.push({
        start: round2(Math.min(words[0].start, end)),
        end: round2(Math.min(words[words.length - 1].end, end)),
        text: words
          .map((x) => x.word)
          .join('')
          .trim(),
        ...quality,
        ...(this.opts.wordTimestamps ? { words } : {}),
      });
    }
  }

  /**
   * Mel frames a window consumed whose text ended before the window did, at `lastTimestamp`
   * frames into it (its last timestamp token, or without timestamp tokens where the alignment
   * put the end of its text: WordAligner.sentences' textEnd):
   * Whisper then skips the rest of the window. In a VAD chunk, when the VAD heard
   * more speech than RESUME_SPEECH_S after that timestamp, the model's end of text came too early
   * (it had skipped sentences): the next window starts at the timestamp instead, so that the
   * speech is decoded rather than lost.
   */
  private consumedFrames(w: Window, lastTimestamp: number): number {
    const frames = w.segmentSize;
    const speech = w.chunk.speech;
    if (!speech || lastTimestamp <= 0 || lastTimestamp >= frames) return frames;
    const from = w.seek + lastTimestamp;
    const to = w.seek + frames;
    let after = 0;
    for (const [a, b] of speech) after += Math.max(0, Math.min(b, to) - Math.max(a, from));
    return after > RESUME_SPEECH_S * FRAMES_PER_SECOND ? lastTimestamp : frames;
  }

  /**
   * A decoded pack's words handed back to its chunks (packing.ts), each chunk done with them, or
   * told to be decoded on its own (logged with the reason).
   */
  private unpackChunk(chunk: Chunk): MemberOutcome[] {
    const pack = chunk.pack as Pack;
    const outcomes = unpack(
      pack,
      this.opts.wordTimestamps === true,
      this.thresholds.compressionRatioThreshold,
    );
    for (const o of outcomes) {
      const member = o.chunk.clip;
      if (o.alone) {
        this.packStats.decodedAlone++;
        this.opts.logger?.debug(
          { file: member.file, reason: o.reason },
          'whisper: a packed chunk decoded alone',
        );
        continue;
      }
      o.chunk.segments = o.segments;
      o.chunk.rawText = o.rawText;
      o.chunk.seek = o.chunk.contentFrames;
    }
    return outcomes;
  }

  private clipResult(clip: Clip): TranscriptionResult {
    // chunks in the order of the clip (they may finish in any order)
    const text = clip.chunks
      .map((c) => c.rawText)
      .join('')
      .trim();
    return {
      file: clip.file,
      language: clip.language ?? 'en',
      language_prob: round4(clip.languageProb),
      text,
      segments: clip.chunks.flatMap((c) => c.segments),
      no_speech: text === '',
      duration_s: round2(clip.durationS),
    };
  }
}

/**
 * `r` as the fallback rule judges it: a pack's window without its compression ratio, which
 * unpack applies to each member's own text instead (packing.ts).
 */
function packJudged(w: Window, r: DecodingResult): DecodingResult {
  return w.chunk.pack ? { ...r, compressionRatio: 0 } : r;
}
