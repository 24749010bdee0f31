/**
 * Where the decoder's outputs live, per execution provider. On WebGPU the KV cache stays on the
 * device between tokens: the `present.*` outputs of the split decoder sessions are asked for as
 * GPU buffers (`preferredOutputLocation: 'gpu-buffer'`) and fed straight back as the next step's
 * `past_key_values.*`; only the logits come back to the host. The tensors the session hands out
 * are ours to free: every step's replaced self-attention K/V is disposed, and a batch's whole
 * cache when it ends (KVCache.release). onnxruntime has no WebGPU kernel for WhisperBeamSearch,
 * so this is WebGPU's way around per-token copies; CPU and CUDA use in-graph decoding
 * (in-graph-decoder.ts) instead. onnxruntime-node has no IO binding for CUDA, so there the
 * outputs are host tensors whatever is asked.
 */
import { existsSync, readdirSync } from 'node:fs';
import type * as ort from 'onnxruntime-node';
import type { Provider } from './model.ts';

/**
 * The providers WHISPER_DEVICE=auto tries, in order. WebGPU only where the machine has a GPU
 * device node (NVIDIA, or a DRM render node): without one the only Vulkan adapter is a software
 * one (Mesa's lavapipe, installed for the tests), far slower than the CPU provider.
 */
export function autoProviders(): Provider[] {
  let render = false;
  try {
    render = readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    // no /dev/dri
  }
  const gpu = render || existsSync('/dev/nvidia0');
  return gpu ? ['cuda', 'webgpu', 'cpu'] : ['cuda', 'cpu'];
}

/** Whether the provider keeps the KV cache on the device between decoder runs. */
export function keepsKvOnDevice(provider: Provider): boolean {
  return provider === 'webgpu';
}

/**
 * The session option for a decoder session whose outputs are `outputs`: K/V on the device,
 * everything else (the logits) on the host. Undefined where the provider keeps nothing there.
 */
export function decoderOutputLocations(
  provider: Provider,
  outputs: readonly string[],
): ort.InferenceSession.SessionOptions['preferredOutputLocation'] {
  if (!keepsKvOnDevice(provider)) return undefined;
  return Object.fromEntries(
    outputs.map((name) => [name, name.startsWith('present.') ? 'gpu-buffer' : 'cpu'] as const),
  );
}

/** Frees tensors that live on a device (a no-op for host tensors, which the GC frees). */
export function disposeDeviceTensors(tensors: Iterable<ort.Tensor>): void {
  for (const t of tensors) if (t.location === 'gpu-buffer') t.dispose();
}
