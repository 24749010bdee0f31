/**
 * WHISPER_DEVICE and `transcribe --device` (no imports: lib/config.ts loads this without the
 * inference engine). `auto` is the only one that falls back (to the CPU).
 */
export const WHISPER_DEVICES = ['cpu', 'cuda', 'webgpu', 'auto'] as const;
export type WhisperDevice = (typeof WHISPER_DEVICES)[number];
