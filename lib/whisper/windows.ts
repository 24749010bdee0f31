/**
 * The unit of work of the transcription loop (transcribe.ts): a clip is cut into 30-second
 * windows, one after another (a window starts where the last one's text ended); the windows of
 * all clips wait in one queue and are taken from it in batches.
 */
import type { TranscriptSegment } from '../manifest.ts';
import { N_FRAMES } from './audio.ts';
import type { DecodingResult } from './decoding.ts';
import type { LogMel } from './mel.ts';

/** A clip being transcribed: its spectrogram, where it has got to, and what it produced. */
export interface Clip {
  /** Position in the caller's list of files. */
  index: number;
  file: string;
  mel: LogMel;
  /** Mel frames of real audio (the spectrogram has 30 s of padding after them). */
  contentFrames: number;
  durationS: number;
  /** Mel frame where the next window starts. */
  seek: number;
  language?: string;
  languageProb: number;
  segments: TranscriptSegment[];
  rawText: string;
  seed: number;
}

/** One 30-second window of a clip, queued for the model (again, for a temperature fallback). */
export interface Window {
  clip: Clip;
  seek: number;
  segmentSize: number;
  mel?: Float32Array;
  /** Encoder output of this window (kept for a temperature fallback). */
  features?: Float32Array;
  temperatureIndex: number;
  /** Results that asked for a fallback, one per temperature tried. */
  tried: DecodingResult[];
}

/**
 * The next batch: fallback retries first, then the windows of the clips with the most audio left.
 * A long clip's windows are decoded one after another, so starting its chain early keeps it from
 * being the lone sequence of the last batches, and windows of similar length (about as many
 * tokens) share a batch. The choice changes no result, only the order of the work.
 */
export function takeBatch(queue: Window[], size: number): Window[] {
  if (queue.length <= size) return queue.splice(0, size);
  const order = queue.map((w, i) => ({
    w,
    i,
    key: w.temperatureIndex > 0 ? Infinity : w.clip.contentFrames - w.seek,
  }));
  order.sort((a, b) => b.key - a.key || a.i - b.i);
  const picked = new Set(order.slice(0, size).map((o) => o.i));
  const batch = queue.filter((_, i) => picked.has(i));
  const rest = queue.filter((_, i) => !picked.has(i));
  queue.splice(0, queue.length, ...rest);
  return batch;
}

/** The clip's window starting at its current seek (up to 30 s of its remaining audio). */
export function nextWindow(clip: Clip): Window {
  const segmentSize = Math.min(N_FRAMES, clip.contentFrames - clip.seek);
  return { clip, seek: clip.seek, segmentSize, temperatureIndex: 0, tried: [] };
}
