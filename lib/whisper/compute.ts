/**
 * WHISPER_COMPUTE and `transcribe --compute`: which weights the engine runs (no imports:
 * lib/config.ts loads this without the inference engine). `fp32` is the converted model as is;
 * `int8` its quantized variant (models/quantize_int8.py: 8-bit weights, activations quantized per
 * row as it runs; the default: same WER, faster, see bench/README.md); `fp16` is reserved for
 * GPUs and refused on the CPU. The engine's own default (EngineOptions) stays fp32, which every
 * model directory has; the pipeline and the CLI pass WHISPER_COMPUTE.
 */
export const WHISPER_COMPUTE_TYPES = ['int8', 'fp32', 'fp16'] as const;
export type WhisperCompute = (typeof WHISPER_COMPUTE_TYPES)[number];

/** The file-name suffix of a compute type's graphs (the onnx-community convention). */
const SUFFIX: Record<WhisperCompute, string> = { fp32: '', int8: '_int8', fp16: '_fp16' };

/** `onnx/<graph><suffix>.onnx`, relative to the model directory. */
export function graphFile(graph: 'encoder_model' | 'decoder_model_merged', compute: WhisperCompute): string {
  return `onnx/${graph}${SUFFIX[compute]}.onnx`;
}
