/**
 * The units of work of the transcription loop (transcribe.ts). A clip (one file) is cut into
 * chunks: the stretches of speech the VAD found (vad.ts), or the whole clip when the VAD is off.
 * A chunk is cut into 30-second windows, one after another (a window starts where the last one's
 * text ended; a VAD chunk is at most 30 s, so usually one window). The windows of all chunks of
 * all clips wait in one queue and are taken from it in batches.
 */
import type { TranscriptSegment } from '../manifest.ts';
import { N_FRAMES } from './audio.ts';
import type { DecodingResult } from './decoding.ts';
import type { LogMel } from './mel.ts';
import type { Pack } from './packing.ts';

/** A clip being transcribed: its chunks, and what they produced. */
export interface Clip {
  /** Position in the caller's list of files. */
  index: number;
  file: string;
  durationS: number;
  /** Known once the first chunk's first window is decoded (or pinned). */
  language?: string;
  languageProb: number;
  chunks: Chunk[];
  /** Chunks not finished yet. */
  chunksLeft: number;
  /** Chunks held back until the language is known (detected from the first chunk). */
  waiting: Chunk[];
  seed: number;
}

/** A contiguous stretch of a clip, decoded by Whisper's seek loop on its own spectrogram. */
export interface Chunk {
  clip: Clip;
  /** Where the chunk starts and ends in the clip (seconds). */
  offsetS: number;
  endS: number;
  /** Spectrogram of the chunk's audio, with 30 s of padding after it; dropped when done. */
  mel?: LogMel;
  /** Mel frames of the chunk's audio. */
  contentFrames: number;
  /** The VAD's speech regions in the chunk, in mel frames from its start (none without VAD). */
  speech?: Array<[number, number]>;
  /** Mel frame (in the chunk) where the next window starts. */
  seek: number;
  segments: TranscriptSegment[];
  rawText: string;
  /** Set on a chunk that joins the chunks of several short clips (packing.ts). */
  pack?: Pack;
}

/** One 30-second window of a chunk, queued for the model (again, for a temperature fallback). */
export interface Window {
  chunk: Chunk;
  seek: number;
  segmentSize: number;
  /** Encoder output of this window (kept for a temperature fallback or word timing). */
  features?: Float32Array;
  /** Encoder output on its way (encoded ahead, while the batch before this one decodes). */
  encoding?: Promise<Float32Array>;
  temperatureIndex: number;
  /** Results that asked for a fallback, one per temperature tried. */
  tried: DecodingResult[];
}

/** Audio (mel frames) of a clip still to be decoded after this window's chunk. */
function framesWaiting(clip: Clip): number {
  return clip.waiting.reduce((n, c) => n + c.contentFrames, 0);
}

/**
 * The next batch: fallback retries first, then windows already encoded or being encoded (encoded
 * ahead while the last batch decoded), then the windows with the most audio left behind them
 * (a chunk's windows are sequential, and a clip's first chunk holds back its others until the
 * language is known), so that a long chain starts early instead of being the lone sequence of
 * the last batches, and windows of similar length (about as many tokens) share a batch. The
 * choice changes no result, only the order of the work.
 */
export function takeBatch(queue: Window[], size: number): Window[] {
  const picked = new Set(batchIndices(queue, size));
  const batch = queue.filter((_, i) => picked.has(i));
  const rest = queue.filter((_, i) => !picked.has(i));
  queue.splice(0, queue.length, ...rest);
  return batch;
}

/** The windows takeBatch would take now, left in the queue (to encode them ahead). */
export function peekBatch(queue: readonly Window[], size: number): Window[] {
  return batchIndices(queue, size).map((i) => queue[i]!);
}

function batchIndices(queue: readonly Window[], size: number): number[] {
  if (queue.length <= size) return [...queue.keys()];
  const order = queue.map((w, i) => ({
    i,
    // Retries first, then windows already encoded or being encoded (encoded ahead: the encoder
    // works in request order, so a batch of others would wait behind them), then by audio left.
    first: w.temperatureIndex > 0 ? 2 : w.features || w.encoding ? 1 : 0,
    key: w.chunk.contentFrames - w.seek + framesWaiting(w.chunk.clip),
  }));
  order.sort((a, b) => b.first - a.first || b.key - a.key || a.i - b.i);
  return order
    .slice(0, size)
    .map((o) => o.i)
    .sort((a, b) => a - b);
}

/** The chunk's window starting at its current seek (up to 30 s of its remaining audio). */
export function nextWindow(chunk: Chunk): Window {
  const segmentSize = Math.min(N_FRAMES, chunk.contentFrames - chunk.seek);
  return { chunk, seek: chunk.seek, segmentSize, temperatureIndex: 0, tried: [] };
}
