/**
 * The Whisper network on onnxruntime-node (openai/whisper `whisper/model.py`): an encoder session
 * (`onnx/encoder_model.onnx`) and a merged decoder session with KV cache
 * (`onnx/decoder_model_merged.onnx`, the Optimum / onnx-community layout).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../log.ts';
import { splitMergedDecoder } from './onnx-split.ts';
import { autoProviders, decoderOutputLocations, disposeDeviceTensors, keepsKvOnDevice } from './providers.ts';
import { ConfigError } from '../errors.ts';
import { EncoderProcess } from './encoder-process.ts';

import type { WhisperDevice } from './devices.ts';
import { graphFile, type WhisperCompute } from './compute.ts';

export type { WhisperDevice } from './devices.ts';
export type Provider = Exclude<WhisperDevice, 'auto'>;

export interface ModelDimensions {
  nMels: number;
  nAudioCtx: number;
  nAudioState: number;
  nTextCtx: number;
  nTextState: number;
  nTextHead: number;
  nTextLayer: number;
  nVocab: number;
}

export interface LoadModelOptions {
  modelDir: string;
  device?: WhisperDevice;
  /** Which graphs to run (default fp32): onnx/*.onnx, onnx/*_int8.onnx or onnx/*_fp16.onnx. */
  compute?: WhisperCompute;
  /** Intra-op threads of each session (default: onnxruntime's choice, one per core). */
  threads?: number;
  logger?: Logger;
  /**
   * 'split' (default): the merged decoder is split in memory into a cross-attention K/V graph and
   * a decoder-with-past graph (no `If`, so no per-step copy of the cross K/V); falls back to
   * 'merged' when the graph does not have the expected shape. 'merged': the file as it is.
   */
  decoderMode?: 'split' | 'merged';
  /**
   * Run the encoder in a child process (default: on the CPU provider), so that a caller can
   * encode the next windows while it decodes (lib/whisper/encoder-process.ts).
   */
  encoderProcess?: boolean;
}

/** What one decoder pass returns. */
export interface DecodeOutput {
  /** [B, T, V] */
  logits: Float32Array;
  cache: KVCache;
  /** Per requested layer, the cross-attention probabilities [B, H, T, n_audio_ctx]. */
  attentions: Map<number, Float32Array>;
}

function attentionsOf(
  out: ort.InferenceSession.ReturnType,
  layers: readonly number[],
): Map<number, Float32Array> {
  const m = new Map<number, Float32Array>();
  for (const l of layers) m.set(l, (out[`cross_attentions.${l}`] as ort.Tensor).data as Float32Array);
  return m;
}

/** Per-layer decoder KV cache of a batch: self-attention K/V grow per step, cross-attention K/V are fixed. */
export class KVCache {
  constructor(
    readonly batch: number,
    /** Tokens already in the self-attention cache. */
    readonly length: number,
    /** [layer][key, value] tensors [B, H, length, hd]. */
    readonly self: ort.Tensor[],
    /** [layer][key, value] tensors [B, H, 1500, hd]. */
    readonly cross: ort.Tensor[],
  ) {}

  /**
   * Keeps batch rows `live` (ascending) without copying the cache: each live row at or beyond
   * the new batch size moves into a finished row's slot below it, and every tensor becomes a view
   * of its first rows. A step's cost grows with its rows (each reads its 37 MB of cross-attention
   * K/V for base), so dropping a finished row at once saves more than the one-row move costs;
   * copying every live row into new tensors (select) cost as much as a step of them. Overwrites
   * the finished rows' data in place: host tensors only. `from[j]` is the old row of new row j.
   */
  compact(live: number[]): { cache: KVCache; from: number[] } {
    const n = live.length;
    const from = [...Array(n).keys()];
    const movers = live.filter((r) => r >= n);
    const holes = from.filter((j) => !live.includes(j));
    holes.forEach((j, k) => (from[j] = movers[k]));
    const shrink = (t: ort.Tensor): ort.Tensor => {
      const [, ...rest] = t.dims;
      const per = rest.reduce((x, y) => x * y, 1);
      const data = t.data as Float32Array;
      holes.forEach((j, k) => data.copyWithin(j * per, movers[k] * per, (movers[k] + 1) * per));
      return new ort.Tensor('float32', data.subarray(0, n * per), [n, ...rest]);
    };
    return { cache: new KVCache(n, this.length, this.self.map(shrink), this.cross.map(shrink)), from };
  }

  /** Frees the tensors that live on a device (WebGPU); host tensors are left to the GC. */
  release(): void {
    disposeDeviceTensors([...this.self, ...this.cross]);
  }
}

/** The version of models/convert_ct2_whisper.py that wrote `modelDir` (0 without a manifest). */
function converterVersion(modelDir: string): number {
  const file = path.join(modelDir, 'manifest.json');
  if (!existsSync(file)) return 0;
  const converter = readJson(file).converter as { version?: unknown } | undefined;
  return typeof converter?.version === 'number' ? converter.version : 0;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function providerList(p: Provider): ort.InferenceSession.ExecutionProviderConfig[] {
  // The CPU provider is always there for the few nodes another provider leaves to it.
  return p === 'cpu' ? ['cpu'] : [p, 'cpu'];
}

/** Time spent in onnxruntime, for benchmarks and logs. */
export interface ModelStats {
  encodeMs: number;
  /** 30-s windows encoded. */
  encodedWindows: number;
  /** Shorter inputs encoded: language probes (language-probe.ts). */
  encodedProbes: number;
  decodeMs: number;
  decodeCalls: number;
  /** Σ batch rows over decoder calls. */
  decodeRows: number;
}

export class WhisperModel {
  readonly stats: ModelStats = {
    encodeMs: 0,
    encodedWindows: 0,
    encodedProbes: 0,
    decodeMs: 0,
    decodeCalls: 0,
    decodeRows: 0,
  };

  private constructor(
    readonly modelDir: string,
    readonly dims: ModelDimensions,
    readonly provider: Provider,
    readonly compute: WhisperCompute,
    private readonly encoder: ort.InferenceSession | EncoderProcess,
    /** The merged decoder, or the decoder-with-past graph in split mode. */
    private readonly decoder: ort.InferenceSession,
    /** Split mode: encoder_hidden_states → cross-attention K/V. */
    private readonly cross: ort.InferenceSession | undefined,
    /**
     * Whether the encoder takes fewer than 3000 mel frames (a language probe): converter version
     * 3 on slices its positions to the input's length; earlier graphs have a fixed input.
     */
    readonly encodesAnyLength: boolean,
  ) {}

  /** The outputs a decoding step reads (not the cross_attentions.* ones). */
  private get stepFetches(): string[] {
    return this.decoder.outputNames.filter((n) => !n.startsWith('cross_attentions.'));
  }

  /** Drops the encodes requested so far that have not started (they reject): see EncoderProcess.cancel. */
  cancelEncodes(): void {
    if (this.encoder instanceof EncoderProcess) this.encoder.cancel();
  }

  /** The encoder's child process id (see encoderProcess), for diagnostics and tests. */
  encoderPid(): Promise<number | undefined> {
    return this.encoder instanceof EncoderProcess ? this.encoder.pid() : Promise.resolve(undefined);
  }

  /** The folder the encoder process's arrays pass through (see encoderProcess), for tests. */
  get encoderDir(): string | undefined {
    return this.encoder instanceof EncoderProcess ? this.encoder.dir : undefined;
  }

  /** Whether encode() runs in a child process, so the caller can decode meanwhile. */
  get encodesInProcess(): boolean {
    return this.encoder instanceof EncoderProcess;
  }

  get decoderMode(): 'split' | 'merged' {
    return this.cross ? 'split' : 'merged';
  }

  /**
   * Whether decode() returns caches whose tensors live on the device (WebGPU, split decoder):
   * such a cache cannot be compacted on the host, and is freed with KVCache.release().
   */
  get keepsKvOnDevice(): boolean {
    return keepsKvOnDevice(this.provider) && this.cross !== undefined;
  }

  static async load(opts: LoadModelOptions): Promise<WhisperModel> {
    const { modelDir } = opts;
    const compute = opts.compute ?? 'fp32';
    const device = opts.device ?? 'cpu';
    if (compute === 'fp16' && (device === 'cpu' || device === 'auto'))
      throw new ConfigError(
        `WHISPER_COMPUTE=fp16 is for GPUs (WHISPER_DEVICE=cuda or webgpu), not WHISPER_DEVICE=${device}: use int8 or fp32 on the CPU`,
      );
    const encFile = path.join(modelDir, graphFile('encoder_model', compute));
    const decFile = path.join(modelDir, graphFile('decoder_model_merged', compute));
    if (!existsSync(path.join(modelDir, 'config.json')))
      throw new Error(`Whisper model folder ${modelDir}: config.json is missing`);
    for (const f of [encFile, decFile]) {
      if (existsSync(f)) continue;
      const missing = `Whisper model folder ${modelDir}: ${path.relative(modelDir, f)} is missing`;
      if (compute === 'fp32') throw new Error(missing);
      throw new ConfigError(
        `${missing} (WHISPER_COMPUTE=${compute}: \`audio-pipeline model fetch\` or \`model import\` writes the int8 graphs; WHISPER_COMPUTE=fp32 runs the float32 ones)`,
      );
    }
    const cfg = readJson(path.join(modelDir, 'config.json'));
    const num = (k: string, dflt?: number): number => {
      const v = cfg[k] ?? dflt;
      if (typeof v !== 'number') throw new Error(`${modelDir}/config.json: ${k} missing`);
      return v;
    };
    const dims: ModelDimensions = {
      nMels: num('num_mel_bins', 80),
      nAudioCtx: num('max_source_positions', 1500),
      nAudioState: num('d_model'),
      nTextCtx: num('max_target_positions', 448),
      nTextState: num('d_model'),
      nTextHead: num('decoder_attention_heads'),
      nTextLayer: num('decoder_layers'),
      nVocab: num('vocab_size'),
    };
    const candidates: Provider[] = device === 'auto' ? autoProviders() : [device];
    const failures: string[] = [];
    for (const provider of candidates) {
      const options: ort.InferenceSession.SessionOptions = {
        executionProviders: providerList(provider),
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        interOpNumThreads: 1,
        logSeverityLevel: 3,
        ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
        // onnxruntime's pool threads spin after each parallel section by default. They then hold
        // the cores that the decoding loop's own work (logit filters, VAD, log-Mel, ffmpeg) needs
        // between runs, and on a busy machine they steal from everything else: a decoder step at
        // batch 4 measured 29 → 22 ms of CPU and 71 → 29 ms of wall time without spinning under
        // load (the encoder's CPU time 1.1 → 1.0 s per window).
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      };
      // The decoder's tensors change size every step: an arena keeps the largest of each
      // (hundreds of MB at batch 8) and measured no faster. The encoder's arena saves ~13%.
      const decOptions: ort.InferenceSession.SessionOptions = { ...options, enableCpuMemArena: false };
      const encOptions: ort.InferenceSession.SessionOptions = { ...options, enableCpuMemArena: true };
      const sessions: Array<ort.InferenceSession | EncoderProcess> = [];
      try {
        const encoder =
          (opts.encoderProcess ?? provider === 'cpu')
            ? await EncoderProcess.start(encFile, encOptions)
            : await ort.InferenceSession.create(encFile, encOptions);
        sessions.push(encoder);
        let decoder: ort.InferenceSession | undefined;
        let cross: ort.InferenceSession | undefined;
        if ((opts.decoderMode ?? 'split') === 'split') {
          let parts: ReturnType<typeof splitMergedDecoder> | undefined;
          try {
            const bytes = readFileSync(decFile);
            parts = splitMergedDecoder(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
          } catch (err) {
            opts.logger?.warn(
              { err: err instanceof Error ? err.message : String(err) },
              'whisper: cannot split the merged decoder; using it as it is',
            );
          }
          if (parts) {
            // WebGPU: the K/V outputs stay on the device (providers.ts).
            const at = (names: string[]) => {
              const where = decoderOutputLocations(provider, names);
              return where ? { ...decOptions, preferredOutputLocation: where } : decOptions;
            };
            const layers = [...Array(dims.nTextLayer).keys()];
            const kv = (kind: string) =>
              layers.flatMap((i) => [`present.${i}.${kind}.key`, `present.${i}.${kind}.value`]);
            cross = await ort.InferenceSession.create(parts.cross, at(kv('encoder')));
            sessions.push(cross);
            decoder = await ort.InferenceSession.create(parts.withPast, at(['logits', ...kv('decoder')]));
            sessions.push(decoder);
          }
        }
        if (!decoder) {
          decoder = await ort.InferenceSession.create(decFile, decOptions);
          sessions.push(decoder);
        }
        if (device === 'auto')
          opts.logger?.info(
            { provider, tried: failures },
            `whisper: using the ${provider} execution provider`,
          );
        else
          opts.logger?.debug(
            { provider, compute, decoder: cross ? 'split' : 'merged' },
            'whisper: sessions loaded',
          );
        return new WhisperModel(
          modelDir,
          dims,
          provider,
          compute,
          encoder,
          decoder,
          cross,
          converterVersion(modelDir) >= 3,
        );
      } catch (err) {
        await Promise.all(sessions.map((x) => x.release().catch(() => undefined)));
        const msg = err instanceof Error ? err.message : String(err);
        failures.push(`${provider}: ${msg.split('\n')[0]}`);
        if (device !== 'auto') {
          throw new ConfigError(
            `WHISPER_DEVICE=${device}: the ${provider} execution provider cannot load the model (${msg.split('\n')[0]}); no fallback to another device unless WHISPER_DEVICE=auto`,
          );
        }
      }
    }
    throw new ConfigError(
      `WHISPER_DEVICE=auto: no execution provider could load the model: ${failures.join('; ')}`,
    );
  }

  get isMultilingual(): boolean {
    return this.dims.nVocab >= 51865;
  }

  /** Encoder forward pass: mel [B, nMels, 3000] → audio features [B, 1500, D] (or a probe's fewer frames). */
  async encode(mel: Float32Array, batch: number): Promise<ort.Tensor> {
    const frames = mel.length / batch / this.dims.nMels;
    const input = new ort.Tensor('float32', mel, [batch, this.dims.nMels, frames]);
    const count = () => {
      if (frames === 2 * this.dims.nAudioCtx) this.stats.encodedWindows += batch;
      else this.stats.encodedProbes += batch;
    };
    if (this.encoder instanceof EncoderProcess) {
      const out = await this.encoder.run(mel, input.dims as number[]);
      this.stats.encodeMs += out.ms;
      count();
      return new ort.Tensor('float32', out.data, out.dims);
    }
    const t0 = performance.now();
    const out = await this.encoder.run({ input_features: input });
    this.stats.encodeMs += performance.now() - t0;
    count();
    return out.last_hidden_state as ort.Tensor;
  }

  private emptyPast(batch: number): ort.Tensor {
    const hd = this.dims.nTextState / this.dims.nTextHead;
    return new ort.Tensor('float32', new Float32Array(0), [batch, this.dims.nTextHead, 0, hd]);
  }

  /**
   * One decoder pass. Without a cache it starts a sequence: the cross-attention K/V are computed
   * from `features`; with one it appends `tokens` to the cached sequence. Returns the logits
   * [B, T, V] and the grown cache.
   */
  async decode(
    tokens: BigInt64Array,
    batch: number,
    features: ort.Tensor,
    cache?: KVCache,
    /** Decoder layers whose cross-attention probabilities to return (word timing), if any. */
    attentionLayers: readonly number[] = [],
  ): Promise<DecodeOutput> {
    const T = tokens.length / batch;
    const L = this.dims.nTextLayer;
    if (this.cross) return this.decodeSplit(tokens, batch, T, features, cache, attentionLayers);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', tokens, [batch, T]),
      encoder_hidden_states: features,
      use_cache_branch: new ort.Tensor('bool', new Uint8Array([cache ? 1 : 0]), [1]),
    };
    const fetches = ['logits'];
    for (let i = 0; i < L; i++) {
      const empty = cache ? undefined : this.emptyPast(batch);
      feeds[`past_key_values.${i}.decoder.key`] = cache ? cache.self[2 * i] : (empty as ort.Tensor);
      feeds[`past_key_values.${i}.decoder.value`] = cache ? cache.self[2 * i + 1] : (empty as ort.Tensor);
      feeds[`past_key_values.${i}.encoder.key`] = cache ? cache.cross[2 * i] : (empty as ort.Tensor);
      feeds[`past_key_values.${i}.encoder.value`] = cache ? cache.cross[2 * i + 1] : (empty as ort.Tensor);
      fetches.push(`present.${i}.decoder.key`, `present.${i}.decoder.value`);
      if (!cache) fetches.push(`present.${i}.encoder.key`, `present.${i}.encoder.value`);
    }
    for (const l of attentionLayers) fetches.push(`cross_attentions.${l}`);
    const t0 = performance.now();
    const out = await this.decoder.run(feeds, fetches);
    this.stats.decodeMs += performance.now() - t0;
    this.stats.decodeCalls++;
    this.stats.decodeRows += batch;
    const self: ort.Tensor[] = [];
    const cross: ort.Tensor[] = [];
    for (let i = 0; i < L; i++) {
      self.push(
        out[`present.${i}.decoder.key`] as ort.Tensor,
        out[`present.${i}.decoder.value`] as ort.Tensor,
      );
      if (cache) cross.push(cache.cross[2 * i], cache.cross[2 * i + 1]);
      else
        cross.push(
          out[`present.${i}.encoder.key`] as ort.Tensor,
          out[`present.${i}.encoder.value`] as ort.Tensor,
        );
    }
    const logits = (out.logits as ort.Tensor).data as Float32Array;
    return {
      logits,
      cache: new KVCache(batch, (cache?.length ?? 0) + T, self, cross),
      attentions: attentionsOf(out, attentionLayers),
    };
  }

  private async decodeSplit(
    tokens: BigInt64Array,
    batch: number,
    T: number,
    features: ort.Tensor,
    cache: KVCache | undefined,
    attentionLayers: readonly number[],
  ): Promise<DecodeOutput> {
    const L = this.dims.nTextLayer;
    const t0 = performance.now();
    let cross: ort.Tensor[];
    if (cache) cross = cache.cross;
    else {
      const out = await (this.cross as ort.InferenceSession).run({ encoder_hidden_states: features });
      cross = [];
      for (let i = 0; i < L; i++)
        cross.push(
          out[`present.${i}.encoder.key`] as ort.Tensor,
          out[`present.${i}.encoder.value`] as ort.Tensor,
        );
    }
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', tokens, [batch, T]) };
    const empty = cache ? undefined : this.emptyPast(batch);
    for (let i = 0; i < L; i++) {
      feeds[`past_key_values.${i}.decoder.key`] = cache ? cache.self[2 * i] : (empty as ort.Tensor);
      feeds[`past_key_values.${i}.decoder.value`] = cache ? cache.self[2 * i + 1] : (empty as ort.Tensor);
      feeds[`past_key_values.${i}.encoder.key`] = cross[2 * i];
      feeds[`past_key_values.${i}.encoder.value`] = cross[2 * i + 1];
    }
    const fetches = [...this.stepFetches, ...attentionLayers.map((l) => `cross_attentions.${l}`)];
    const out = await this.decoder.run(feeds, fetches);
    this.stats.decodeMs += performance.now() - t0;
    this.stats.decodeCalls++;
    this.stats.decodeRows += batch;
    // The replaced self-attention K/V: nothing reads them again (device tensors only).
    if (cache) disposeDeviceTensors(cache.self);
    const self: ort.Tensor[] = [];
    for (let i = 0; i < L; i++)
      self.push(
        out[`present.${i}.decoder.key`] as ort.Tensor,
        out[`present.${i}.decoder.value`] as ort.Tensor,
      );
    return {
      logits: (out.logits as ort.Tensor).data as Float32Array,
      cache: new KVCache(batch, (cache?.length ?? 0) + T, self, cross),
      attentions: attentionsOf(out, attentionLayers),
    };
  }

  /** Whether the decoder has the `cross_attentions.{i}` outputs word timestamps need (converter ≥ 2). */
  get hasCrossAttentions(): boolean {
    return this.decoder.outputNames.includes('cross_attentions.0');
  }

  /**
   * A teacher-forced decoder pass over whole sequences without KV cache, for word alignment:
   * the logits [B, T, V] and the cross-attention probabilities [B, H, T, n_audio_ctx] of the
   * decoder layers `layers`.
   */
  async crossAttentions(
    tokens: BigInt64Array,
    batch: number,
    features: ort.Tensor,
    layers: number[],
  ): Promise<{ logits: Float32Array; attentions: Map<number, Float32Array> }> {
    if (!this.hasCrossAttentions)
      throw new ConfigError(
        `Whisper model ${this.modelDir}: the decoder has no cross_attentions outputs (converted before word timestamps); convert it again with \`audio-pipeline model fetch\``,
      );
    const T = tokens.length / batch;
    const L = this.dims.nTextLayer;
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', tokens, [batch, T]) };
    const empty = this.emptyPast(batch);
    let cross: ort.Tensor[] | undefined;
    if (this.cross) {
      const out = await this.cross.run({ encoder_hidden_states: features });
      cross = [];
      for (let i = 0; i < L; i++)
        cross.push(
          out[`present.${i}.encoder.key`] as ort.Tensor,
          out[`present.${i}.encoder.value`] as ort.Tensor,
        );
    } else {
      feeds.encoder_hidden_states = features;
      feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([0]), [1]);
    }
    for (let i = 0; i < L; i++) {
      feeds[`past_key_values.${i}.decoder.key`] = empty;
      feeds[`past_key_values.${i}.decoder.value`] = empty;
      feeds[`past_key_values.${i}.encoder.key`] = cross ? cross[2 * i] : empty;
      feeds[`past_key_values.${i}.encoder.value`] = cross ? cross[2 * i + 1] : empty;
    }
    const wanted = [...new Set(layers)];
    const out = await this.decoder.run(feeds, ['logits', ...wanted.map((l) => `cross_attentions.${l}`)]);
    return { logits: (out.logits as ort.Tensor).data as Float32Array, attentions: attentionsOf(out, wanted) };
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release(), this.cross?.release()]);
  }
}
