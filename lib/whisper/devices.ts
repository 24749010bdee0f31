/**
 * WHISPER_DEVICE and `transcribe --device` (no imports: lib/config.ts loads this without the
 * inference engine). `auto` is the only one that falls back (to the CPU).
 */
export const WHISPER_DEVICES = ['cpu', 'cuda', 'webgpu', 'auto'] as const;
export type WhisperDevice = (typeof WHISPER_DEVICES)[number];

/**
 * WHISPER_DECODER: `loop` drives the decoder token by token from the host (decoding.ts);
 * `in-graph` decodes greedy windows in one onnxruntime run per batch (in-graph-decoder.ts).
 */
export const WHISPER_DECODERS = ['loop', 'in-graph'] as const;
export type WhisperDecoder = (typeof WHISPER_DECODERS)[number];

/**
 * WHISPER_SEGMENTS: how a transcript is cut into segments. `sentences`: windows decoded without
 * timestamp tokens, the text cut into sentences timed by their words (lib/whisper/sentences.ts);
 * `timestamps`: Whisper's own segments, from its timestamp tokens; `auto` (default): sentences
 * with the VAD, the loop decoder and a model converted with cross-attention outputs (every
 * `model fetch`/`model import` since word timestamps), timestamps otherwise
 * (EngineOptions.segmentTimestamps). `sentences` without the VAD or with the in-graph decoder is
 * a configuration error.
 */
export const WHISPER_SEGMENT_MODES = ['auto', 'sentences', 'timestamps'] as const;
export type WhisperSegmentMode = (typeof WHISPER_SEGMENT_MODES)[number];

/** EngineOptions.segmentTimestamps for a WHISPER_SEGMENTS mode (undefined: the engine decides). */
export function segmentTimestampsFor(mode: WhisperSegmentMode): boolean | undefined {
  return mode === 'auto' ? undefined : mode === 'timestamps';
}
