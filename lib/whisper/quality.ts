/**
 * Whisper's quality rules for one decoded window, after openai/whisper `whisper/transcribe.py`:
 * when to decode again at a higher temperature, which try to keep when every temperature failed,
 * and when a window is silence, noise or music rather than speech. Pure functions of the decoding
 * result and the thresholds.
 */
import type { DecodingResult } from './decoding.ts';
import { isHallucination } from './hallucinations.ts';

/** The temperatures tried in turn (Whisper's transcribe() default). */
export const DEFAULT_TEMPERATURES = [0, 0.2, 0.4, 0.6, 0.8, 1.0];

export interface QualityThresholds {
  /** A gzip compression ratio above this is too repetitive (default 2.4). */
  compressionRatioThreshold: number;
  /** An average log probability below this is too unlikely (default -1). */
  logprobThreshold: number;
  /** A no-speech probability above this (with an unlikely text) is silence (default 0.6). */
  noSpeechThreshold: number;
}

/** The thresholds with Whisper's transcribe() defaults filled in. */
export function qualityThresholds(opts: Partial<QualityThresholds> = {}): QualityThresholds {
  return {
    compressionRatioThreshold: opts.compressionRatioThreshold ?? 2.4,
    logprobThreshold: opts.logprobThreshold ?? -1,
    noSpeechThreshold: opts.noSpeechThreshold ?? 0.6,
  };
}

/** Whether the window must be decoded again at the next temperature (not when it is silence). */
export function needsFallback(r: DecodingResult, t: QualityThresholds): boolean {
  let needs = r.compressionRatio > t.compressionRatioThreshold || r.avgLogprob < t.logprobThreshold;
  if (r.noSpeechProb > t.noSpeechThreshold && r.avgLogprob < t.logprobThreshold) needs = false; // silence
  return needs;
}

/**
 * When every temperature failed, Whisper keeps the last (most random) result; like
 * faster-whisper we keep the likeliest one that is not repetitive (else the likeliest one).
 */
export function bestOf(tried: DecodingResult[], t: QualityThresholds): DecodingResult {
  const ok = tried.filter((r) => r.compressionRatio <= t.compressionRatioThreshold);
  return (ok.length ? ok : tried).reduce((a, b) => (b.avgLogprob > a.avgLogprob ? b : a));
}

/**
 * Whether a window is silence, noise or music rather than speech. Whisper's own rule (1) lets
 * through what it produces on music and some noise, so three more rules, from measurements of
 * the multilingual base model on synthetic music, noise and speech (test/integration/whisper.test.ts):
 *  1. no-speech probability > 0.6 and average log probability < -1 (Whisper);
 *  2. no-speech probability > 0.35 and the window needed a temperature fallback or is unlikely
 *     (avg logprob < -1): the model suspects non-speech and is not sure of its text;
 *  3. every temperature failed, the best result is gibberish (avg logprob < -1.5) and the
 *     no-speech probability is above 0.2;
 *  4. the text is a phrase Whisper hallucinates on silence/music ("Thank you for watching",
 *     "Subtitles by the Amara.org community", "ご視聴ありがとうございました", …) and the
 *     no-speech probability is above 0.2 or the text is unlikely (avg logprob < -0.7).
 * `fallbacks`: temperatures tried before `r`'s; `allFailed`: every temperature asked for a fallback.
 */
export function isNonSpeech(
  r: DecodingResult,
  fallbacks: number,
  allFailed: boolean,
  t: QualityThresholds,
): boolean {
  const ns = r.noSpeechProb;
  if (ns > t.noSpeechThreshold && !(r.avgLogprob > t.logprobThreshold)) return true;
  if (ns > 0.35 && (fallbacks > 0 || r.avgLogprob < t.logprobThreshold)) return true;
  if (allFailed && r.avgLogprob < -1.5 && ns > 0.2) return true;
  if ((ns > 0.2 || r.avgLogprob < -0.7) && isHallucination(r.text)) return true;
  return false;
}
