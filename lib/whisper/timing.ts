/**
 * Word-level timestamps, after openai/whisper `whisper/timing.py`: for the final text tokens of a
 * window, the cross-attention probabilities of the model's alignment heads are aligned to the
 * audio frames by dynamic time warping. Per head the probabilities are renormalised over the
 * window's frames, standardised over the tokens, median-filtered (width 7) along time and
 * averaged over heads; the DTW path over tokens × frames (20 ms each) gives each token the frame
 * where it starts.
 * Tokens are grouped into words by the tokenizer (on spaces and punctuation, or per character
 * for languages written without spaces), then timing.py's fixes apply: over-long words at
 * sentence and segment boundaries are cut to twice the median word length, and punctuation is
 * merged into its neighbouring word.
 *
 * Where the attention comes from: a window decoded without timestamp tokens (the default with the
 * VAD) was fed exactly the sequence timing.py's pass feeds — the SOT sequence, <|notimestamps|>,
 * the text — so the attention its decoding steps computed anyway is kept (decodeBatch's
 * `alignmentHeads`) and `sentences` needs no pass of its own (the pass also sees the
 * <|endoftext|> position, which only joins the standardisation). A window decoded with
 * timestamp tokens attended with them in the sequence, so `addWords` runs timing.py's
 * teacher-forced pass over the kept text instead.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { TranscriptSegment, TranscriptWord } from '../manifest.ts';
import { HOP_LENGTH, SAMPLE_RATE } from './audio.ts';
import type { LogMel } from './mel.ts';
import type { WhisperModel } from './model.ts';
import type { Tokenizer } from './tokenizer.ts';
import { alignmentHeadsAt, type AlignmentHeads, type DecodingResult } from './decoding.ts';
import { splitSentences } from './sentences.ts';

/** Audio positions per second of the encoder output (timing.py's TOKENS_PER_SECOND). */
const FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH / 2;
const MEDIAN_FILTER_WIDTH = 7;
/** Languages written without spaces between words: split per character (timing.py). */
const NO_SPACE_LANGUAGES = new Set(['zh', 'ja', 'th', 'lo', 'my', 'yue']);
const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const PREPEND_PUNCTUATION = '"\'“¿([{-';
const APPEND_PUNCTUATION = '"\'.。,，!！?？:：”)]}、';
const SENTENCE_END_MARKS = '.。!！?？';

export type { AlignmentHeads };

/**
 * The alignment heads from the model's config.json (CTranslate2 conversions carry OpenAI's
 * per-model list); without one, openai-whisper's default for an unknown model: every head of the
 * second half of the decoder layers.
 */
export function alignmentHeads(modelDir: string, nLayers: number, nHeads: number): AlignmentHeads {
  const file = path.join(modelDir, 'config.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as { alignment_heads?: unknown };
  const listed = cfg.alignment_heads;
  if (Array.isArray(listed) && listed.length > 0) {
    return listed.map((p) => {
      if (
        !Array.isArray(p) ||
        p.length !== 2 ||
        !Number.isInteger(p[0]) ||
        !Number.isInteger(p[1]) ||
        p[0] < 0 ||
        p[0] >= nLayers ||
        p[1] < 0 ||
        p[1] >= nHeads
      )
        throw new Error(
          `${file}: alignment_heads entry ${JSON.stringify(p)} is not a [layer, head] of this model`,
        );
      return [p[0] as number, p[1] as number];
    });
  }
  const heads: AlignmentHeads = [];
  for (let l = Math.floor(nLayers / 2); l < nLayers; l++) for (let h = 0; h < nHeads; h++) heads.push([l, h]);
  return heads;
}

/** Median of a sliding window of `width` (odd) along a row, with reflect padding, in place. */
export function medianFilterRow(row: Float32Array, width: number): void {
  const pad = Math.floor(width / 2);
  const n = row.length;
  if (n <= pad) return;
  const src = Float32Array.from(row);
  const at = (i: number) => src[i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i];
  const win = new Float32Array(width);
  if (width === 7) {
    // every row of every alignment head of every window: a sorting network, not a sort
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 7; k++) win[k] = at(i - 3 + k);
      row[i] = median7(win);
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < width; k++) win[k] = at(i - pad + k);
    win.sort();
    row[i] = win[pad];
  }
}

/** A 16-comparator sorting network for 7 inputs (Knuth), as index pairs. */
const SORT7 = Int8Array.from([
  0, 6, 2, 3, 4, 5, 0, 2, 1, 4, 3, 6, 0, 1, 2, 5, 3, 4, 1, 2, 4, 6, 2, 3, 4, 5, 1, 2, 3, 4, 5, 6,
]);

/** The median of the seven values in `v` (reordered). */
function median7(v: Float32Array): number {
  for (let k = 0; k < SORT7.length; k += 2) {
    const i = SORT7[k];
    const j = SORT7[k + 1];
    const x = v[i];
    const y = v[j];
    if (x > y) {
      v[i] = y;
      v[j] = x;
    }
  }
  return v[3];
}

/**
 * Dynamic time warping of a cost matrix [N, M] (row-major): the monotonic path from (0, 0) to
 * (N-1, M-1) of least total cost, as [text index, time index] pairs, with timing.py's tie-breaks.
 */
export function dtw(cost: Float64Array, N: number, M: number): { text: Int32Array; time: Int32Array } {
  const W = M + 1;
  const acc = new Float64Array((N + 1) * W).fill(Infinity);
  const trace = new Int8Array((N + 1) * W).fill(-1);
  acc[0] = 0;
  for (let j = 1; j <= M; j++) {
    for (let i = 1; i <= N; i++) {
      const c0 = acc[(i - 1) * W + j - 1];
      const c1 = acc[(i - 1) * W + j];
      const c2 = acc[i * W + j - 1];
      let c: number;
      let t: number;
      if (c0 < c1 && c0 < c2) [c, t] = [c0, 0];
      else if (c1 < c0 && c1 < c2) [c, t] = [c1, 1];
      else [c, t] = [c2, 2];
      acc[i * W + j] = cost[(i - 1) * M + j - 1] + c;
      trace[i * W + j] = t;
    }
  }
  for (let j = 0; j <= M; j++) trace[j] = 2;
  for (let i = 0; i <= N; i++) trace[i * W] = 1;
  const text: number[] = [];
  const time: number[] = [];
  let i = N;
  let j = M;
  while (i > 0 || j > 0) {
    text.push(i - 1);
    time.push(j - 1);
    const t = trace[i * W + j];
    if (t === 0) {
      i--;
      j--;
    } else if (t === 1) i--;
    else if (t === 2) j--;
    else throw new Error('dtw: broken trace');
  }
  return { text: Int32Array.from(text.reverse()), time: Int32Array.from(time.reverse()) };
}

export interface WordTokens {
  word: string;
  tokens: number[];
}

/** Groups tokens into pieces that decode to whole characters (a multi-byte one may span tokens). */
function splitOnUnicode(tokenizer: Tokenizer, tokens: number[]): WordTokens[] {
  const out: WordTokens[] = [];
  let current: number[] = [];
  for (const t of tokens) {
    current.push(t);
    const text = tokenizer.decode(current);
    if (!text.includes('\uFFFD')) {
      out.push({ word: text, tokens: current });
      current = [];
    }
  }
  if (current.length > 0) out.push({ word: tokenizer.decode(current), tokens: current });
  return out;
}

/** The words of `tokens` (text tokens only), as the tokenizer splits them for `language`. */
export function splitToWords(tokenizer: Tokenizer, tokens: number[], language: string): WordTokens[] {
  const pieces = splitOnUnicode(tokenizer, tokens);
  if (NO_SPACE_LANGUAGES.has(language)) return pieces;
  const words: WordTokens[] = [];
  for (const p of pieces) {
    // (Python's `in` on strings: a substring test, true for the empty string too)
    const startsWord =
      words.length === 0 || p.word.startsWith(' ') || ASCII_PUNCTUATION.includes(p.word.trim());
    if (startsWord) words.push({ word: p.word, tokens: [...p.tokens] });
    else {
      const last = words[words.length - 1];
      last.word += p.word;
      last.tokens.push(...p.tokens);
    }
  }
  return words;
}

export interface Timed extends WordTokens {
  start: number;
  end: number;
  probability: number;
}

/** Leading quotes and brackets join the next word, trailing punctuation the previous one. */
export function mergePunctuation(words: Timed[]): void {
  for (let i = words.length - 2, j = words.length - 1; i >= 0; i--) {
    const prev = words[i];
    const next = words[j];
    if (prev.word.startsWith(' ') && PREPEND_PUNCTUATION.includes(prev.word.trim())) {
      next.word = prev.word + next.word;
      next.tokens = [...prev.tokens, ...next.tokens];
      prev.word = '';
      prev.tokens = [];
    } else j = i;
  }
  for (let i = 0, j = 1; j < words.length; j++) {
    const prev = words[i];
    const next = words[j];
    if (!prev.word.endsWith(' ') && APPEND_PUNCTUATION.includes(next.word)) {
      prev.word += next.word;
      prev.tokens = [...prev.tokens, ...next.tokens];
      next.word = '';
      next.tokens = [];
    } else i = j;
  }
}

/** Carried from window to window: where the last timed word ended (timing.py's last_speech_timestamp). */
interface StreamState {
  lastSpeech: number;
}

/** A segment a window produced, with the tokens it was decoded from. */
export interface ProducedSegment {
  segment: TranscriptSegment;
  tokens: number[];
}

export interface WindowToAlign {
  /** Encoder output of the window, [n_audio_ctx × d_model] (addWords' own decoder pass reads it). */
  features?: Float32Array;
  language: string;
  /** The spectrogram the window was cut from: frames seek … seek + frames (≤ 3000). */
  mel: LogMel;
  seek: number;
  frames: number;
  /** Where the window starts in the clip, in seconds (the words' times are relative to that). */
  timeOffset: number;
  /**
   * What the window continues: the clip, or the stretch of it that its windows are decoded from
   * one after another (keys the state carried from window to window).
   */
  stream: object;
  /**
   * The window's loudness per 20-ms position (windowLoudness), where the caller knows better:
   * a pack's (packing.ts) measured from each member's own floor.
   */
  loudness?: Float32Array;
}

export class WordAligner {
  private readonly streams = new WeakMap<object, StreamState>();

  constructor(
    private readonly model: WhisperModel,
    private readonly tokenizer: Tokenizer,
    readonly heads: AlignmentHeads,
  ) {}

  static forModel(model: WhisperModel, tokenizer: Tokenizer): WordAligner {
    const heads = alignmentHeads(model.modelDir, model.dims.nTextLayer, model.dims.nTextHead);
    return new WordAligner(model, tokenizer, heads);
  }

  /**
   * Times the words of `segments` (all produced by one window) and writes them into each
   * segment's `words`; as timing.py does, a segment's start and end move to its first and last
   * word unless that word looks too long.
   */
  async addWords(window: WindowToAlign, segments: ProducedSegment[]): Promise<void> {
    const eot = this.tokenizer.eot;
    const perSegment = segments.map((s) => s.tokens.filter((t) => t < eot));
    const text = perSegment.flat();
    if (text.length === 0) return;
    const timed = await this.align(window, text);
    if (timed.length === 0) return;
    const { median, maxDuration } = this.tidyWords(window, timed);

    const offset = window.timeOffset;
    const state = this.streams.get(window.stream) ?? { lastSpeech: 0 };
    this.streams.set(window.stream, state);
    let k = 0;
    segments.forEach(({ segment }, s) => {
      const words: TranscriptWord[] = [];
      let taken = 0;
      while (k < timed.length && taken < perSegment[s].length) {
        const w = timed[k++];
        if (w.word)
          words.push({
            word: w.word,
            start: round2(offset + w.start),
            end: round2(offset + w.end),
            probability: round4(w.probability),
          });
        taken += w.tokens.length;
      }
      if (words.length === 0) return;
      fixSegmentBoundaries(segment, words, state, median, maxDuration);
      segment.words = words;
    });
  }

  /**
   * The sentences of a window decoded without timestamps (`r`, decoded with `attentionFrames` =
   * attentionFrames(window.frames)), timed from the attention its decoding kept: no decoder pass
   * of its own. Undefined when that attention does not reach past the text (a sequence cut at
   * sampleLen, never ended). `textEnd`: where the alignment put the end of the text (seconds,
   * like the words), before trimSilence reaches the last word over the sound after it — which may
   * be speech the text left out, where the next window must start.
   */
  sentences(
    window: WindowToAlign,
    r: DecodingResult,
  ): { sentences: TranscriptWord[][]; textEnd: number } | undefined {
    const tk = this.tokenizer;
    const sot = tk.sotSequence(tk.isMultilingual ? window.language : undefined, 'transcribe');
    const sampleBegin = sot.length + 1; // and <|notimestamps|>
    const text = r.tokens;
    const attention = r.attention;
    if (!attention || !r.tokenProbs || text.length === 0 || text.some((t) => t >= tk.eot)) return undefined;
    if (attention.length < sampleBegin + text.length) return undefined;
    const timed = this.timedWords(window, text, attention, sampleBegin - 1, r.tokenProbs);
    const aligned = timed.length > 0 ? timed[timed.length - 1].end : 0;
    this.tidyWords(window, timed);
    const spoken = timed.filter((w) => w.word);
    const textEnd = round2(window.timeOffset + Math.min(aligned, spoken[spoken.length - 1]?.end ?? 0));
    const words = spoken.map((w) => ({
      word: w.word,
      start: round2(window.timeOffset + w.start),
      end: round2(window.timeOffset + w.end),
      probability: round4(w.probability),
    }));
    return { sentences: splitSentences(words), textEnd };
  }

  /** timing.py's fixes of over-long words at sentence edges, punctuation merged, pauses trimmed. */
  private tidyWords(window: WindowToAlign, timed: Timed[]): { median: number; maxDuration: number } {
    const durations = timed.map((w) => w.end - w.start).filter((d) => d !== 0);
    const median = Math.min(0.7, durations.length > 0 ? medianOf(durations) : 0);
    const maxDuration = median * 2;
    if (durations.length > 0) {
      for (let i = 1; i < timed.length; i++) {
        const w = timed[i];
        if (w.end - w.start <= maxDuration) continue;
        if (SENTENCE_END_MARKS.includes(w.word)) w.end = w.start + maxDuration;
        else if (SENTENCE_END_MARKS.includes(timed[i - 1].word)) w.start = w.end - maxDuration;
      }
    }
    mergePunctuation(timed);
    trimSilence(timed, window.loudness ?? windowLoudness(window.mel, window.seek, window.frames));
    return { median, maxDuration };
  }

  /** timing.py's find_alignment, by a decoder pass of its own: word timings relative to the window start. */
  private async align(window: WindowToAlign, text: number[]): Promise<Timed[]> {
    const tk = this.tokenizer;
    const { nAudioCtx, nAudioState, nVocab } = this.model.dims;
    const sot = tk.sotSequence(tk.isMultilingual ? window.language : undefined, 'transcribe');
    const sequence = [...sot, tk.noTimestamps, ...text, tk.eot];
    const T = sequence.length;
    const features = new ort.Tensor('float32', window.features as Float32Array, [1, nAudioCtx, nAudioState]);
    const layers = this.heads.map(([l]) => l);
    const { logits, attentions } = await this.model.crossAttentions(
      BigInt64Array.from(sequence, (t) => BigInt(t)),
      1,
      features,
      layers,
    );
    const M = attentionFrames(window.frames, nAudioCtx);
    const first = sot.length;
    // the same layout as the attention a decoding keeps: per position, [heads × M]
    const layout = { nHeads: this.model.dims.nTextHead, nAudioCtx, T };
    const rows = Array.from({ length: T }, (_, t) =>
      alignmentHeadsAt(attentions, this.heads, layout, 0, t, M),
    );
    // probability of each text token at the position that predicted it, over the text vocabulary
    const probs = text.map((tok, i) => {
      const row = logits.subarray((first + i) * nVocab, (first + i) * nVocab + tk.eot);
      let max = -Infinity;
      for (const x of row) if (x > max) max = x;
      let s = 0;
      for (const x of row) s += Math.exp(x - max);
      return Math.exp(row[tok] - max) / s;
    });
    return this.timedWords(window, text, rows, first, probs);
  }

  /**
   * The DTW of timing.py over the attention rows of a sequence's positions (each [heads × M]):
   * row `first` predicts text[0], row first + text.length the end of text. Rows past that (the
   * <|endoftext|> position of a teacher-forced pass) only join the standardisation.
   */
  private timedWords(
    window: WindowToAlign,
    text: number[],
    attention: Float32Array[],
    first: number,
    probs: number[],
  ): Timed[] {
    const tk = this.tokenizer;
    const T = attention.length;
    const K = this.heads.length;
    const M = attention[0].length / K;
    const N = text.length + 1; // rows: the positions predicting each text token and <|endoftext|>
    const matrix = new Float64Array(N * M);
    const weights = new Float32Array(T * M);
    for (let k = 0; k < K; k++) {
      // softmax over the window's frames only = the full softmax renormalised over them
      for (let t = 0; t < T; t++) {
        const att = attention[t];
        const base = k * M;
        let sum = 0;
        for (let f = 0; f < M; f++) sum += att[base + f];
        for (let f = 0; f < M; f++) weights[t * M + f] = att[base + f] / (sum || 1);
      }
      // standardise each frame over the tokens (population std)
      for (let f = 0; f < M; f++) {
        let mean = 0;
        for (let t = 0; t < T; t++) mean += weights[t * M + f];
        mean /= T;
        let v = 0;
        for (let t = 0; t < T; t++) v += (weights[t * M + f] - mean) ** 2;
        const std = Math.sqrt(v / T) || 1;
        for (let t = 0; t < T; t++) weights[t * M + f] = (weights[t * M + f] - mean) / std;
      }
      for (let r = 0; r < N; r++) {
        const row = weights.subarray((first + r) * M, (first + r + 1) * M);
        medianFilterRow(row, MEDIAN_FILTER_WIDTH);
        for (let f = 0; f < M; f++) matrix[r * M + f] -= row[f] / K;
      }
    }
    const path = dtw(matrix, N, M);

    // the time of the first path step on each text row
    const jumpTimes = new Float64Array(N);
    for (let k = 0; k < path.text.length; k++) {
      if (k === 0 || path.text[k] !== path.text[k - 1])
        jumpTimes[path.text[k]] = path.time[k] / FRAMES_PER_SECOND;
    }
    const words = splitToWords(tk, text, window.language);
    const timed: Timed[] = [];
    let at = 0;
    for (const w of words) {
      const end = at + w.tokens.length;
      const p = probs.slice(at, end);
      timed.push({
        ...w,
        start: jumpTimes[at],
        end: jumpTimes[end],
        probability: p.reduce((a, b) => a + b, 0) / p.length,
      });
      at = end;
    }
    return timed;
  }
}

/** Audio positions (20 ms) of a window of `frames` mel frames that word timing attends over. */
export function attentionFrames(frames: number, nAudioCtx: number): number {
  return Math.max(1, Math.min(nAudioCtx, Math.floor(frames / 2)));
}

/** Loudness of each 20 ms position of a window: the mean log-Mel of its two frames. */
export function windowLoudness(mel: LogMel, seek: number, frames: number): Float32Array {
  const n = Math.floor(frames / 2);
  const out = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    let s = 0;
    for (let b = 0; b < mel.nMels; b++) {
      const row = b * mel.nFrames + seek + 2 * p;
      s += mel.data[row] + mel.data[row + 1];
    }
    out[p] = s / (2 * mel.nMels);
  }
  return out;
}

/** Quiet stretches shorter than this (20 ms positions) are taken as part of a word (stops, closures). */
const MIN_PAUSE = 5;

/**
 * Moves word edges off pauses (as stable-ts does with its silence mask). The DTW path has no
 * state for silence: a pause between two words goes to one of them, mostly the next, whose start
 * then comes as early as the previous word's end, with the previous word's last sounds in front.
 * Within each word's span, positions quieter than a quarter of the window's loudness range above
 * its floor that last at least 100 ms split the span into stretches of sound; the word keeps the
 * longest stretch, and a word's end then reaches over the sound right after it that no word took
 * (the DTW ends words early as often as it starts them early). Windows with less than 20 dB
 * between floor and speech are left alone.
 */
export function trimSilence(words: Timed[], loud: Float32Array): void {
  if (loud.length === 0) return;
  const sorted = Float32Array.from(loud).sort();
  const floor = sorted[Math.floor(0.05 * (sorted.length - 1))];
  const peak = sorted[Math.floor(0.95 * (sorted.length - 1))];
  // log-Mel units are log10 / 4: 0.5 is 2 decades of power, 20 dB
  if (peak - floor < 0.5) return;
  const threshold = floor + 0.25 * (peak - floor);
  const spoken = words.filter((w) => w.word);
  for (const w of spoken) {
    if (!w.word) continue;
    const a = Math.max(0, Math.round(w.start * FRAMES_PER_SECOND));
    const b = Math.min(loud.length, Math.round(w.end * FRAMES_PER_SECOND));
    let best: [number, number] | undefined;
    let runStart = -1;
    let lastLoud = -1;
    const close = () => {
      if (runStart >= 0 && (!best || lastLoud + 1 - runStart > best[1] - best[0]))
        best = [runStart, lastLoud + 1];
    };
    for (let p = a; p < b; p++) {
      if (loud[p] < threshold) continue;
      if (runStart < 0) runStart = p;
      else if (p - lastLoud - 1 >= MIN_PAUSE) {
        close();
        runStart = p;
      }
      lastLoud = p;
    }
    close();
    if (!best) continue;
    w.start = best[0] / FRAMES_PER_SECOND;
    w.end = best[1] / FRAMES_PER_SECOND;
  }
  spoken.forEach((w, i) => {
    const limit = Math.min(loud.length, Math.round((spoken[i + 1]?.start ?? Infinity) * FRAMES_PER_SECOND));
    let p = Math.round(w.end * FRAMES_PER_SECOND);
    while (p < limit && loud[p] >= threshold) p++;
    w.end = Math.max(w.end, p / FRAMES_PER_SECOND);
  });
}

/** timing.py's fixes at a segment's edges (a long first word after a pause; segment times). */
function fixSegmentBoundaries(
  segment: TranscriptSegment,
  words: TranscriptWord[],
  state: StreamState,
  median: number,
  maxDuration: number,
): void {
  const first = words[0];
  if (
    first.end - state.lastSpeech > median * 4 &&
    (first.end - first.start > maxDuration ||
      (words.length > 1 && words[1].end - first.start > maxDuration * 2))
  ) {
    if (words.length > 1 && words[1].end - words[1].start > maxDuration) {
      const boundary = round2(Math.max(words[1].end / 2, words[1].end - maxDuration));
      first.end = words[1].start = boundary;
    }
    first.start = round2(Math.max(0, first.end - maxDuration));
  }
  if (segment.start < first.end && segment.start - 0.5 > first.start)
    first.start = round2(Math.max(0, Math.min(first.end - median, segment.start)));
  else segment.start = first.start;
  const last = words[words.length - 1];
  if (segment.end > last.start && segment.end + 0.5 < last.end)
    last.end = round2(Math.max(last.start + median, segment.end));
  else segment.end = last.end;
  state.lastSpeech = segment.end;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
/** Seconds to the 10 ms of a transcript's times. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
/** Probabilities and log probabilities as transcripts carry them. */
export function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}
