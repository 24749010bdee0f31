/**
 * Decoding of 30-second windows, after openai/whisper `whisper/decoding.py`: small logit filters
 * (SuppressBlank, SuppressTokens, ApplyTimestampRules) composed by a per-sequence DecodingTask,
 * greedy or temperature sampling, language detection and the no-speech probability from the
 * logits at the start-of-transcript position, and `decodeBatch`, which decodes many windows (of
 * many clips) in one batched loop with KV cache, each sequence stopping at its own end of text.
 */
import { deflateSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { mulberry32 } from '../random.ts';
import type { KVCache, WhisperModel } from './model.ts';
import type { Tokenizer } from './tokenizer.ts';

/** Seconds per timestamp token (input stride 2 × hop 160 / 16 kHz). */
export const TIME_PRECISION = 0.02;

export interface DecodingOptions {
  /** Language code; undefined = detect from the SOT-position logits (multilingual models). */
  language?: string;
  task?: 'transcribe' | 'translate';
  /** 0 = greedy. */
  temperature?: number;
  /** Most tokens to sample (default: n_text_ctx / 2 = 224). */
  sampleLen?: number;
  /** Token ids to suppress; "-1" (default) = the tokenizer's non-speech tokens. */
  suppressTokens?: '-1' | number[];
  suppressBlank?: boolean;
  withoutTimestamps?: boolean;
  /** Latest first timestamp in seconds (default 1.0). */
  maxInitialTimestamp?: number;
  /** Seed of the sampler at temperature > 0 (results are reproducible per window). */
  seed?: number;
  /**
   * Keep, for word timing, the cross-attention of the alignment heads over the first
   * `attentionFrames` audio positions at every position fed, and each sampled token's probability
   * (decodeBatch's `alignmentHeads`).
   */
  attentionFrames?: number;
}

/** [decoder layer, head] pairs whose cross-attention follows the audio. */
export type AlignmentHeads = Array<[number, number]>;

/** Where a decoder pass's cross-attention sits: [B, nHeads, T, nAudioCtx] per layer. */
export interface AttentionLayout {
  nHeads: number;
  nAudioCtx: number;
  /** Positions per row in this pass. */
  T: number;
}

/**
 * The alignment heads' attention of batch row `row` at position `t` of a decoder pass, over the
 * first `M` audio positions: [heads × M], the layout word timing reads (timing.ts).
 */
export function alignmentHeadsAt(
  attentions: Map<number, Float32Array>,
  heads: AlignmentHeads,
  { nHeads, nAudioCtx, T }: AttentionLayout,
  row: number,
  t: number,
  M: number,
): Float32Array {
  const at = new Float32Array(heads.length * M);
  heads.forEach(([layer, head], k) => {
    const base = ((row * nHeads + head) * T + t) * nAudioCtx;
    at.set((attentions.get(layer) as Float32Array).subarray(base, base + M), k * M);
  });
  return at;
}

export interface DecodingResult {
  /** Sampled tokens, without the SOT sequence and the final <|endoftext|>. */
  tokens: number[];
  text: string;
  language: string;
  /** Probability of each language at the SOT position (multilingual models, when detected). */
  languageProbs?: Record<string, number>;
  avgLogprob: number;
  noSpeechProb: number;
  temperature: number;
  compressionRatio: number;
  /**
   * With `attentionFrames`: per position fed to the decoder (the SOT sequence, then every sampled
   * token but the last), the alignment heads' attention [heads × attentionFrames]; and per
   * sampled token, its probability over the text vocabulary.
   */
  attention?: Float32Array[];
  tokenProbs?: number[];
}

/** Whisper's repetition measure: UTF-8 bytes / zlib-compressed bytes. */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

// ---------------------------------------------------------------------------------------------
// Logit filters. Each works on the logits of one sequence (a row of V values) and the tokens of
// that sequence so far (SOT sequence included).

export interface LogitFilter {
  apply(logits: Float32Array, tokens: readonly number[]): void;
}

/** At the first sampled position, forbid a blank (" ") and an immediate end of text. */
export class SuppressBlank implements LogitFilter {
  private readonly ids: number[];
  constructor(
    tokenizer: Tokenizer,
    private readonly sampleBegin: number,
  ) {
    this.ids = [...tokenizer.encode(' '), tokenizer.eot];
  }

  apply(logits: Float32Array, tokens: readonly number[]): void {
    if (tokens.length === this.sampleBegin) for (const id of this.ids) logits[id] = -Infinity;
  }
}

export class SuppressTokens implements LogitFilter {
  private readonly ids: Int32Array;
  constructor(ids: Iterable<number>) {
    this.ids = Int32Array.from(ids);
  }

  apply(logits: Float32Array): void {
    for (const id of this.ids) logits[id] = -Infinity;
  }
}

/**
 * Decoding with <|notimestamps|>: no timestamp token either (the text is all the window gives;
 * the words are timed from the attention), where openai-whisper would drop one from the text.
 */
export class SuppressTimestamps implements LogitFilter {
  constructor(private readonly timestampBegin: number) {}

  apply(logits: Float32Array): void {
    logits.fill(-Infinity, this.timestampBegin);
  }
}

/**
 * Whisper's timestamp grammar: timestamps come in pairs (except right before EOT), never
 * decrease, the first one is at most `maxInitialTimestampIndex`, and a timestamp is forced when
 * the total probability of timestamps beats every single text token.
 */
export class ApplyTimestampRules implements LogitFilter {
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly sampleBegin: number,
    private readonly maxInitialTimestampIndex: number | undefined,
  ) {}

  apply(logits: Float32Array, tokens: readonly number[]): void {
    const tb = this.tokenizer.timestampBegin;
    const eot = this.tokenizer.eot;
    const V = logits.length;
    logits[this.tokenizer.noTimestamps] = -Infinity;

    const n = tokens.length - this.sampleBegin;
    const last = n >= 1 ? tokens[tokens.length - 1] : -1;
    const lastWasTimestamp = n >= 1 && last >= tb;
    const penultimateWasTimestamp = n < 2 || tokens[tokens.length - 2] >= tb;
    if (lastWasTimestamp) {
      if (penultimateWasTimestamp)
        logits.fill(-Infinity, tb, V); // has to be a non-timestamp
      else logits.fill(-Infinity, 0, eot); // cannot be normal text
    }
    let lastTimestamp = -1;
    for (let i = tokens.length - 1; i >= this.sampleBegin; i--) {
      if (tokens[i] >= tb) {
        lastTimestamp = tokens[i];
        break;
      }
    }
    if (lastTimestamp >= 0) {
      // timestamps never decrease; a segment has a non-zero length
      const limit = lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1;
      logits.fill(-Infinity, tb, limit);
    }
    if (n === 0) {
      logits.fill(-Infinity, 0, tb); // the first token is a timestamp
      if (this.maxInitialTimestampIndex !== undefined)
        logits.fill(-Infinity, tb + this.maxInitialTimestampIndex + 1, V);
    }
    // If the timestamps together are likelier than any text token, sample a timestamp.
    // (Compared on logits: the softmax normaliser is common to both sides.)
    let tsMax = -Infinity;
    for (let i = tb; i < V; i++) if (logits[i] > tsMax) tsMax = logits[i];
    if (tsMax === -Infinity) return;
    let s = 0;
    for (let i = tb; i < V; i++) s += Math.exp(logits[i] - tsMax);
    const tsLogsumexp = tsMax + Math.log(s);
    let textMax = -Infinity;
    for (let i = 0; i < tb; i++) if (logits[i] > textMax) textMax = logits[i];
    if (tsLogsumexp > textMax) logits.fill(-Infinity, 0, tb);
  }
}

// ---------------------------------------------------------------------------------------------

/** 2^(−j/64) for j < 64·58: e^x for x down to −40 is one of these times e^r, |r| ≤ ln 2 / 128. */
const POW2_FINE = Float64Array.from({ length: 64 * 58 }, (_, j) => 2 ** (-j / 64));
const FINE_PER_NAT = 64 * Math.LOG2E;
const NAT_PER_FINE = Math.LN2 / 64;

/**
 * e^x for -40 < x ≤ 0 within 1e-13 (relative): x = r − j·ln 2 / 64 with |r| ≤ ln 2 / 128,
 * 2^(−j/64) from a table and e^r by its Taylor series to r⁴: a quarter faster than the series to
 * r⁶ with 2^−k it replaces (0.22 against 0.29 ms a 52k-token row, which every decoding step of
 * every sequence sums twice: logSumExp) and more exact.
 */
function expNeg(x: number): number {
  const j = (-x * FINE_PER_NAT + 0.5) | 0;
  const r = x + j * NAT_PER_FINE;
  return POW2_FINE[j] * (1 + r * (1 + r * (0.5 + r * (1 / 6 + r / 24))));
}

/**
 * log Σ exp over a row, ignoring -Infinity entries. Terms more than 40 below the maximum
 * (each < 4e-18 of it; all of a 52k vocabulary < 3e-13) are skipped.
 */
export function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < row.length; i++) {
    const x = row[i] - max;
    if (x > -40) s += expNeg(x);
  }
  return max + Math.log(s);
}

/** Index of the (first) largest value. */
export function argmax(row: Float32Array): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > bv) {
      bv = row[i];
      best = i;
    }
  }
  return best;
}

/** Sample from softmax(logits / temperature). */
function sample(row: Float32Array, temperature: number, rand: () => number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let total = 0;
  const w = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const x = (row[i] - max) / temperature;
    if (x > -40) {
      w[i] = expNeg(x);
      total += w[i];
    }
  }
  let r = rand() * total;
  for (let i = 0; i < row.length; i++) {
    r -= w[i];
    if (r < 0 && w[i] > 0) return i;
  }
  return argmax(row);
}

/** Language probabilities from the logits at the SOT position (softmax over language tokens). */
export function detectLanguage(
  sotLogits: Float32Array,
  tokenizer: Tokenizer,
): { language: string; probs: Record<string, number> } {
  const ids = tokenizer.languageTokens;
  if (ids.length === 0) return { language: 'en', probs: { en: 1 } };
  let max = -Infinity;
  for (const id of ids) if (sotLogits[id] > max) max = sotLogits[id];
  let s = 0;
  for (const id of ids) s += Math.exp(sotLogits[id] - max);
  const probs: Record<string, number> = {};
  let best = 0;
  ids.forEach((id, i) => {
    probs[tokenizer.languageCodes[i]] = Math.exp(sotLogits[id] - max) / s;
    if (sotLogits[id] > sotLogits[ids[best]]) best = i;
  });
  return { language: tokenizer.languageCodes[best], probs };
}

/** P(<|nospeech|>) under the softmax of the SOT-position logits. */
export function noSpeechProbability(sotLogits: Float32Array, tokenizer: Tokenizer): number {
  return Math.exp(sotLogits[tokenizer.noSpeech] - logSumExp(sotLogits));
}

/**
 * The tokens never sampled: Whisper's `suppress_tokens` ("-1" = the tokenizer's non-speech
 * tokens) plus the special tokens of the SOT sequence, sorted.
 */
export function suppressedTokenIds(tokenizer: Tokenizer, suppress: '-1' | number[] = '-1'): number[] {
  const ids = new Set<number>(suppress === '-1' ? tokenizer.nonSpeechTokens() : suppress);
  for (const id of [
    tokenizer.transcribe,
    tokenizer.translate,
    tokenizer.sot,
    tokenizer.sotPrev,
    tokenizer.sotLm,
    tokenizer.noSpeech,
  ])
    ids.add(id);
  return [...ids].sort((a, b) => a - b);
}

/**
 * The decoding state of one sequence (one window at one temperature): its filters, its tokens,
 * its summed log probability. `decodeBatch` drives many of them in lock-step.
 */
export class DecodingTask {
  readonly temperature: number;
  readonly sampleLen: number;
  /** The SOT sequence; the language token is written in after detection when it is not given. */
  initialTokens: number[];
  tokens: number[] = [];
  sumLogprob = 0;
  done = false;
  language: string;
  languageProbs?: Record<string, number>;
  noSpeechProb = NaN;
  readonly detect: boolean;
  /** Decoded with <|notimestamps|>: text tokens only. */
  readonly withoutTimestamps: boolean;
  readonly attentionFrames: number | undefined;
  /** See DecodingResult.attention / tokenProbs (only with attentionFrames). */
  readonly attention: Float32Array[] = [];
  readonly tokenProbs: number[] = [];
  private readonly filters: LogitFilter[] = [];
  private readonly rand: () => number;

  constructor(
    readonly tokenizer: Tokenizer,
    options: DecodingOptions = {},
    nTextCtx = 448,
  ) {
    this.temperature = options.temperature ?? 0;
    this.sampleLen = options.sampleLen ?? Math.floor(nTextCtx / 2);
    this.detect = tokenizer.isMultilingual && !options.language;
    this.withoutTimestamps = options.withoutTimestamps ?? false;
    this.attentionFrames = options.attentionFrames;
    this.language = options.language ?? 'en';
    if (
      tokenizer.isMultilingual &&
      options.language &&
      tokenizer.languageToken(options.language) === undefined
    ) {
      throw new Error(`unknown language "${options.language}"`);
    }
    // With detection pending the language slot holds a placeholder until the SOT logits are in.
    this.initialTokens = tokenizer.sotSequence(
      tokenizer.isMultilingual ? this.language : undefined,
      options.task ?? 'transcribe',
    );
    if (options.withoutTimestamps) this.initialTokens.push(tokenizer.noTimestamps);
    this.tokens = [...this.initialTokens];
    const sampleBegin = this.initialTokens.length;
    if (options.suppressBlank ?? true) this.filters.push(new SuppressBlank(tokenizer, sampleBegin));
    this.filters.push(new SuppressTokens(suppressedTokenIds(tokenizer, options.suppressTokens)));
    if (options.withoutTimestamps) this.filters.push(new SuppressTimestamps(tokenizer.timestampBegin));
    else {
      const maxInitial = options.maxInitialTimestamp ?? 1.0;
      this.filters.push(
        new ApplyTimestampRules(tokenizer, sampleBegin, Math.round(maxInitial / TIME_PRECISION)),
      );
    }
    this.rand = mulberry32(options.seed ?? 0);
  }

  get sampleBegin(): number {
    return this.initialTokens.length;
  }

  /** Takes the logits at the SOT position: no-speech probability, and the language if detecting. */
  observeSot(sotLogits: Float32Array): void {
    this.noSpeechProb = noSpeechProbability(sotLogits, this.tokenizer);
    if (this.detect) {
      const { language, probs } = detectLanguage(sotLogits, this.tokenizer);
      this.language = language;
      this.languageProbs = probs;
      const slot = this.initialTokens.indexOf(this.tokenizer.sot) + 1;
      const lt = this.tokenizer.languageToken(language) as number;
      this.initialTokens[slot] = lt;
      this.tokens[slot] = lt;
    }
  }

  /** Filters `logits` (modified in place), picks the next token, and returns it. */
  step(logits: Float32Array): number {
    const eot = this.tokenizer.eot;
    if (this.done) return eot;
    // timing.py's word probability: the softmax over the text tokens of the unfiltered logits
    // (the filters only ever lower a token that is then not picked)
    const textNorm = this.attentionFrames === undefined ? 0 : logSumExp(logits.subarray(0, eot));
    for (const f of this.filters) f.apply(logits, this.tokens);
    const next = this.temperature === 0 ? argmax(logits) : sample(logits, this.temperature, this.rand);
    if (this.attentionFrames !== undefined) this.tokenProbs.push(Math.exp(logits[next] - textNorm));
    this.sumLogprob += logits[next] - logSumExp(logits);
    this.tokens.push(next);
    if (next === eot || this.tokens.length - this.sampleBegin >= this.sampleLen) this.done = true;
    return next;
  }

  result(): DecodingResult {
    const eot = this.tokenizer.eot;
    let sampled = this.tokens.slice(this.sampleBegin);
    const end = sampled.indexOf(eot);
    if (end >= 0) sampled = sampled.slice(0, end);
    const text = this.tokenizer.decode(sampled).trim();
    return {
      tokens: sampled,
      text,
      language: this.language,
      languageProbs: this.languageProbs,
      avgLogprob: this.sumLogprob / (sampled.length + 1),
      noSpeechProb: this.noSpeechProb,
      temperature: this.temperature,
      compressionRatio: compressionRatio(text),
      ...(this.attentionFrames === undefined
        ? {}
        : { attention: this.attention, tokenProbs: this.tokenProbs.slice(0, sampled.length) }),
    };
  }

  /**
   * Keeps the alignment heads' attention of the positions this task was fed in one decoder pass:
   * `T` positions of batch row `row`; a finished task fed <|endoftext|> keeps nothing more.
   */
  keepAttention(
    attentions: Map<number, Float32Array>,
    heads: AlignmentHeads,
    layout: AttentionLayout,
    row: number,
  ): void {
    const M = this.attentionFrames;
    if (M === undefined) return;
    // a finished task's last token (<|endoftext|>, or the one at sampleLen) is never fed on the
    // CPU (the row leaves the batch); where finished rows stay (WebGPU) it is not kept either
    const fed = this.done ? this.tokens.length - 1 : this.tokens.length;
    for (let t = 0; t < layout.T && this.attention.length < fed; t++)
      this.attention.push(alignmentHeadsAt(attentions, heads, layout, row, t, M));
  }
}

export interface DecodeBatchOptions {
  /** Checked before every decoder call. */
  signal?: AbortSignal;
  /** The heads whose attention tasks with `attentionFrames` keep (word timing). */
  alignmentHeads?: AlignmentHeads;
}

/**
 * Decodes `tasks.length` windows in one batch: `features` is the encoder output
 * [B, n_audio_ctx, D] in task order. All sequences share the SOT-sequence length, so they advance
 * in lock-step; a finished sequence is fed <|endoftext|> (which does not change the others) until
 * the batch is compacted. Returns each task's result, in order.
 */
export async function decodeBatch(
  model: WhisperModel,
  features: ort.Tensor,
  tasks: DecodingTask[],
  opts: DecodeBatchOptions = {},
): Promise<DecodingResult[]> {
  const B = tasks.length;
  if (B === 0) return [];
  const V = model.dims.nVocab;
  const S = tasks[0].initialTokens.length;
  if (tasks.some((t) => t.initialTokens.length !== S))
    throw new Error('decodeBatch: all tasks need the same SOT-sequence length');
  const sotIndex = tasks[0].initialTokens.indexOf(tasks[0].tokenizer.sot);
  const heads = opts.alignmentHeads ?? [];
  const collecting = heads.length > 0 && tasks.some((t) => t.attentionFrames !== undefined);
  const layers = collecting ? [...new Set(heads.map(([l]) => l))] : [];
  const { nTextHead, nAudioCtx } = model.dims;
  const keep = (o: { attentions: Map<number, Float32Array> }, rowTasks: number[], T: number) => {
    if (collecting)
      rowTasks.forEach((r, i) =>
        tasks[r].keepAttention(o.attentions, heads, { nHeads: nTextHead, nAudioCtx, T }, i),
      );
  };

  // rows[i] = index into `tasks` of batch row i (changes when the batch is compacted)
  let rows = tasks.map((_, i) => i);
  let feats = features;

  // 1. the tokens up to and including SOT: logits at SOT → no-speech probability, language
  const first = new BigInt64Array(B * (sotIndex + 1));
  tasks.forEach((t, b) =>
    t.initialTokens.slice(0, sotIndex + 1).forEach((id, j) => (first[b * (sotIndex + 1) + j] = BigInt(id))),
  );
  let out = await model.decode(first, B, feats, undefined, layers);
  let cache: KVCache = out.cache;
  let T = sotIndex + 1;
  keep(out, rows, T);
  tasks.forEach((t, b) =>
    t.observeSot(out.logits.subarray((b * T + sotIndex) * V, (b * T + sotIndex + 1) * V)),
  );

  try {
    // 2. the rest of the SOT sequence (language, task), now that detected languages are known
    if (S > sotIndex + 1) {
      const n = S - sotIndex - 1;
      const rest = new BigInt64Array(B * n);
      tasks.forEach((t, b) =>
        t.initialTokens.slice(sotIndex + 1).forEach((id, j) => (rest[b * n + j] = BigInt(id))),
      );
      out = await model.decode(rest, B, feats, cache, layers);
      cache = out.cache;
      T = n;
      keep(out, rows, T);
    }

    // 3. sample until every sequence has ended
    for (;;) {
      // onnxruntime-node's run returns an already-settled promise: without a turn of the event
      // loop here, a batch would decode as one long task, and the encoder process's replies (and
      // its next window to encode, heartbeats, timers) would wait until the batch is done
      await new Promise<void>((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
      const next = new BigInt64Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const task = tasks[rows[i]];
        const row = out.logits.subarray((i * T + T - 1) * V, (i * T + T) * V);
        next[i] = BigInt(task.step(row));
      }
      const live = rows.map((r, i) => (tasks[r].done ? -1 : i)).filter((i) => i >= 0);
      if (live.length === 0) break;
      // Finished rows leave the batch at once (KVCache.compact); a cache on the device (WebGPU)
      // is not compacted: its finished rows are fed <|endoftext|>.
      if (!model.keepsKvOnDevice && live.length < rows.length) {
        const { cache: kept, from } = cache.compact(live);
        cache = kept;
        // The merged decoder reads the encoder output every step; the split one only at the start.
        if (model.decoderMode === 'merged') feats = selectRows(feats, from);
        rows = from.map((i) => rows[i]);
        const tokens = new BigInt64Array(from.length);
        from.forEach((i, j) => (tokens[j] = next[i]));
        out = await model.decode(tokens, rows.length, feats, cache, layers);
      } else {
        out = await model.decode(next, rows.length, feats, cache, layers);
      }
      cache = out.cache;
      T = 1;
      keep(out, rows, T);
    }
  } finally {
    cache.release(); // device tensors (WebGPU); also when aborted
  }
  return tasks.map((t) => t.result());
}

/** Rows `rows` of a [B, ...] float tensor, copied into a new tensor. */
export function selectRows(t: ort.Tensor, rows: number[]): ort.Tensor {
  const [, ...rest] = t.dims;
  const per = rest.reduce((x, y) => x * y, 1);
  const src = t.data as Float32Array;
  const out = new Float32Array(rows.length * per);
  rows.forEach((r, i) => out.set(src.subarray(r * per, (r + 1) * per), i * per));
  return new ort.Tensor('float32', out, [rows.length, ...rest]);
}
