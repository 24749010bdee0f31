/**
 * The language of a clip from its first seconds of speech, before its chunks are decoded: what
 * lets a multilingual model pack short clips (packing.ts), whose windows need one language each.
 *
 * Whisper detects the language from the logits of the start-of-transcript token over a 30-s
 * window. A probe encodes only the first PROBE_FRAMES of the clip's first chunk (its spectrogram
 * with the chunk's own silence padding, as a window is encoded; the converter slices the
 * encoder's positions to the input's length, as whisper.cpp's audio_ctx does) and reads the same
 * logits. The encoder's cost grows with its input, so a 10-s probe costs about a quarter of a
 * window (0.27 measured, base int8, 2 cores).
 *
 * Measured against the language detected on the full window, on the 36 clips of
 * test/fixtures/whisper (eSpeak sentences in 7 languages and jfk.flac, whisper base, int8): 10-s
 * probes agreed 35 times (the 36th, Portuguese, was Thai on the window and English on the probe:
 * wrong both ways), 8-s probes 35, 5-s probes 28. Shorter probes cost less but lose languages.
 */
import * as ort from 'onnxruntime-node';
import { untilAborted } from './abort.ts';
import { FRAMES_PER_SECOND } from './audio.ts';
import { detectLanguage } from './decoding.ts';
import type { LogMel } from './mel.ts';
import type { WhisperModel } from './model.ts';
import type { Tokenizer } from './tokenizer.ts';

/** Mel frames a probe encodes: 10 s (see above for why not fewer). */
export const PROBE_FRAMES = 10 * FRAMES_PER_SECOND;

export interface ProbedLanguage {
  language: string;
  probability: number;
}

/**
 * The first PROBE_FRAMES of `mel` (a chunk's spectrogram, which holds its 30 s of silence
 * padding after the audio), as one encoder input [nMels × PROBE_FRAMES].
 */
export function probeInput(mel: LogMel): Float32Array {
  const { nMels, nFrames, data } = mel;
  if (nFrames < PROBE_FRAMES)
    throw new Error(`a probe needs ${PROBE_FRAMES} mel frames, the chunk has ${nFrames}`);
  const out = new Float32Array(nMels * PROBE_FRAMES);
  for (let m = 0; m < nMels; m++)
    out.set(data.subarray(m * nFrames, m * nFrames + PROBE_FRAMES), m * PROBE_FRAMES);
  return out;
}

/**
 * The language of each of `mels` (the first chunks of clips), with its probability. One encoder
 * run per probe (as windows are encoded: batching does not speed the encoder up), one decoder
 * step for all of them.
 */
export async function probeLanguages(
  model: WhisperModel,
  tokenizer: Tokenizer,
  mels: readonly LogMel[],
  signal?: AbortSignal,
): Promise<ProbedLanguage[]> {
  if (mels.length === 0) return [];
  const encoded: ort.Tensor[] = [];
  if (model.encodesInProcess)
    encoded.push(
      ...(await untilAborted(Promise.all(mels.map((m) => model.encode(probeInput(m), 1))), signal)),
    );
  else
    for (const m of mels) {
      signal?.throwIfAborted();
      encoded.push(await model.encode(probeInput(m), 1));
    }
  signal?.throwIfAborted();
  const [, frames, width] = encoded[0].dims as number[];
  const per = frames * width;
  const data = new Float32Array(mels.length * per);
  encoded.forEach((t, i) => data.set(t.data as Float32Array, i * per));
  const features = new ort.Tensor('float32', data, [mels.length, frames, width]);
  const sot = new BigInt64Array(mels.length).fill(BigInt(tokenizer.sot));
  const { logits, cache } = await model.decode(sot, mels.length, features);
  cache.release();
  const vocab = logits.length / mels.length;
  return mels.map((_, i) => {
    const { language, probs } = detectLanguage(logits.subarray(i * vocab, (i + 1) * vocab), tokenizer);
    return { language, probability: probs[language] ?? 0 };
  });
}
