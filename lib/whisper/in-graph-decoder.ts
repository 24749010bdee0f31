/**
 * In-graph decoding (WHISPER_DECODER=in-graph): Whisper's whole greedy loop — encoder, the
 * cross-attention K/V, every decoder step, the timestamp rules — runs inside ONE onnxruntime
 * `run` of the contrib op `com.microsoft.WhisperBeamSearch` (num_beams = 1), built from the
 * model's own encoder and merged decoder by `models/build_whisper_beam_search.py`. The KV cache
 * never leaves the execution provider between tokens: the host sends the log-Mel windows and the
 * SOT sequences and gets back token ids, one score and the no-speech probability per window.
 * That is the design for CUDA (onnxruntime-node has no CUDA IO binding, so a host-driven loop
 * would copy every sequence's cache per token); on the CPU provider it is measured against the
 * loop in bench/README.md.
 *
 * Parity with the loop (decoding.ts) at temperature 0, checked token for token in
 * test/integration/whisper-in-graph.test.ts:
 *  - suppressed tokens (Whisper's "-1" set and the special tokens) → `vocab_mask`;
 *  - the first sampled token is a timestamp (ApplyTimestampRules at n = 0, which also covers
 *    SuppressBlank) → `prefix_vocab_mask` allows only timestamp tokens at the first step;
 *  - the timestamp grammar → `logits_processor = 1` (onnxruntime's port of the same rules, with
 *    max_initial_timestamp_index 50 = 1.0 s);
 *  - greedy → num_beams 1, early_stopping (the first end of text ends the sequence).
 * Not in the graph, so left to the loop: temperature > 0 (fallback retries) and language
 * detection (the first window of a clip without a language). The op's score is the sum of
 * log-softmax values taken BEFORE the masks, so `avgLogprob` here is at most the loop's (the
 * loop renormalises over the tokens left after suppression); see bench/README.md for the
 * measured difference.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../log.ts';
import { lastLines, runCommand } from '../python-venv.ts';
import { ConfigError } from '../errors.ts';
import { DecodingTask, suppressedTokenIds, type DecodingResult } from './decoding.ts';
import type { Provider } from './model.ts';
import type { Tokenizer } from './tokenizer.ts';

export const BEAM_SEARCH_FILE = path.join('onnx', 'whisper_beam_search.onnx');
const BUILDER = new URL('../../models/build_whisper_beam_search.py', import.meta.url).pathname;

/** Counters for benchmarks and the run-count evidence: one session run per batch of windows. */
export interface InGraphStats {
  runs: number;
  windows: number;
  ms: number;
}

/**
 * The in-graph model of `modelDir`, built when missing or older than the decoder. The builder
 * needs numpy + onnx: the model converter's venv in the model cache (`<cache>/.venv`), or
 * `python` when given.
 */
export async function ensureBeamSearchModel(
  modelDir: string,
  opts: { python?: string; logger?: Logger; signal?: AbortSignal } = {},
): Promise<string> {
  const file = path.join(modelDir, BEAM_SEARCH_FILE);
  const decoder = path.join(modelDir, 'onnx', 'decoder_model_merged.onnx');
  if (existsSync(file) && statSync(file).mtimeMs >= statSync(decoder).mtimeMs) return file;
  const python = opts.python ?? path.join(path.dirname(modelDir), '.venv', 'bin', 'python');
  const command = `${python} models/build_whisper_beam_search.py --model-dir ${modelDir}`;
  if (!existsSync(python))
    throw new ConfigError(
      `WHISPER_DECODER=in-graph: ${file} is missing and ${python} (the model converter's venv, made by \`audio-pipeline model fetch\`) does not exist; build it with \`${command}\` using a Python with numpy and onnx`,
    );
  opts.logger?.info({ modelDir }, 'whisper: building the in-graph decoder model');
  const res = await runCommand(
    python,
    [BUILDER, '--model-dir', modelDir],
    (l) => opts.logger?.debug({ line: l }, 'build_whisper_beam_search'),
    undefined,
    opts.signal,
  );
  if (res.code !== 0 || !existsSync(file))
    throw new Error(`\`${command}\` failed (exit ${res.code})${lastLines(res.tail, 8)}`);
  return file;
}

export class InGraphDecoder {
  readonly stats: InGraphStats = { runs: 0, windows: 0, ms: 0 };
  private readonly vocabMask: Int32Array;
  private readonly firstStepMask: Int32Array;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly nVocab: number,
    private readonly nTextCtx: number,
  ) {
    this.vocabMask = new Int32Array(nVocab).fill(1);
    for (const id of [...suppressedTokenIds(tokenizer), tokenizer.noTimestamps])
      if (id < nVocab) this.vocabMask[id] = 0;
    // First sampled token: a timestamp (Whisper's ApplyTimestampRules at n = 0).
    this.firstStepMask = new Int32Array(nVocab);
    this.firstStepMask.fill(1, tokenizer.timestampBegin, nVocab);
  }

  static async load(opts: {
    modelDir: string;
    tokenizer: Tokenizer;
    nVocab: number;
    nTextCtx: number;
    provider: Provider;
    threads?: number;
    logger?: Logger;
    python?: string;
  }): Promise<InGraphDecoder> {
    if (opts.provider === 'webgpu')
      throw new ConfigError(
        'WHISPER_DECODER=in-graph: onnxruntime has no WebGPU kernel for WhisperBeamSearch; use WHISPER_DECODER=loop with WHISPER_DEVICE=webgpu (device-resident KV cache)',
      );
    const file = await ensureBeamSearchModel(opts.modelDir, { python: opts.python, logger: opts.logger });
    const session = await ort.InferenceSession.create(file, {
      executionProviders: opts.provider === 'cpu' ? ['cpu'] : [opts.provider, 'cpu'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      interOpNumThreads: 1,
      logSeverityLevel: 3,
      ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
    });
    return new InGraphDecoder(session, opts.tokenizer, opts.nVocab, opts.nTextCtx);
  }

  /** Whether a window can be decoded here: greedy, with its language known. */
  accepts(task: DecodingTask): boolean {
    return task.temperature === 0 && !task.detect && !task.withoutTimestamps;
  }

  /**
   * Decodes `tasks.length` windows whose log-Mel spectrograms are `mel` ([B, n_mels, 3000], task
   * order) in one session run. All tasks share the SOT-sequence length.
   */
  async decode(mel: Float32Array, nMels: number, tasks: DecodingTask[]): Promise<DecodingResult[]> {
    const B = tasks.length;
    if (B === 0) return [];
    for (const t of tasks) if (!this.accepts(t)) throw new Error('InGraphDecoder: task needs the loop');
    const S = tasks[0].initialTokens.length;
    if (tasks.some((t) => t.initialTokens.length !== S))
      throw new Error('InGraphDecoder: all tasks need the same SOT-sequence length');
    const prompt = new Int32Array(B * S);
    tasks.forEach((t, b) => prompt.set(t.initialTokens, b * S));
    const sampleLen = Math.min(tasks[0].sampleLen, this.nTextCtx - S);
    const prefix = new Int32Array(B * this.nVocab);
    for (let b = 0; b < B; b++) prefix.set(this.firstStepMask, b * this.nVocab);
    const i32 = (v: number) => new ort.Tensor('int32', Int32Array.of(v), [1]);
    const f32 = (v: number) => new ort.Tensor('float32', Float32Array.of(v), [1]);
    const feeds: Record<string, ort.Tensor> = {
      input_features: new ort.Tensor('float32', mel, [B, nMels, mel.length / B / nMels]),
      max_length: i32(S + sampleLen),
      min_length: i32(0),
      num_beams: i32(1),
      num_return_sequences: i32(1),
      length_penalty: f32(0),
      repetition_penalty: f32(1),
      vocab_mask: new ort.Tensor('int32', this.vocabMask, [this.nVocab]),
      prefix_vocab_mask: new ort.Tensor('int32', prefix, [B, this.nVocab]),
      decoder_input_ids: new ort.Tensor('int32', prompt, [B, S]),
      logits_processor: i32(1),
    };
    const t0 = performance.now();
    const out = await this.session.run(feeds);
    this.stats.ms += performance.now() - t0;
    this.stats.runs++;
    this.stats.windows += B;
    const seqs = out.sequences as ort.Tensor;
    const width = seqs.dims[2];
    const ids = seqs.data as Int32Array;
    const scores = (out.sequences_scores as ort.Tensor).data as Float32Array;
    const noSpeech = (out.no_speech_probs as ort.Tensor).data as Float32Array;
    const eot = this.tokenizer.eot;
    return tasks.map((task, b) => {
      const row = ids.subarray(b * width + S, (b + 1) * width);
      const end = row.indexOf(eot);
      const sampled = Array.from(end >= 0 ? row.subarray(0, end) : row);
      // The task's own bookkeeping turns tokens + summed log probability into the result.
      task.tokens = [...task.initialTokens, ...sampled, ...(end >= 0 ? [eot] : [])];
      task.sumLogprob = scores[b];
      task.noSpeechProb = noSpeech[b];
      task.done = true;
      return task.result();
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
