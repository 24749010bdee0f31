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
