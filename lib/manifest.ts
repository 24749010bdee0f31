/**
 * What activities exchange (DESIGN.md §1): paths, ids, counts and statuses — never audio bytes or
 * transcripts. Per-clip lists live in `manifest.json` inside the archive's staging folder so that
 * workflow payloads stay small whatever the archive size. This module is the manifest's format
 * and the clip state machine (pending → converted → stored → uploaded, or failed with the stage
 * and reason); lib/staging.ts reads and writes it.
 */
import type { ClipMetadata } from './metadata/types.ts';
import type { ClipStatus } from './statuses.ts';

export type { ClipStatus } from './statuses.ts';

/** One clip of an archive as the pipeline tracks it through the stages. */
export interface ClipRecord {
  id: string;
  date: string; // YYYY-MM-DD
  archive: string; // YYYY-MM-DD_HH-MM
  sourceName: string | null; // the MP3's file name inside the archive; null when the row has no clip
  status: ClipStatus;
  error: string | null;
  mp3Path: string | null;
  mp3Bytes: number | null;
  opusPath: string | null;
  opusBytes: number | null;
  storageUri: string | null;
  durationS: number | null;
  sha256: string | null; // of the Opus file
  hasMetadata: boolean;
}

/** One segment of a transcript (times in seconds from the clip start). */
export interface TranscriptSegment {
  start: number;
  end: number;
  text: string;
  avg_logprob?: number;
  no_speech_prob?: number;
  /** With word timestamps on (WHISPER_WORD_TIMESTAMPS=1, `transcribe --word-timestamps`). */
  words?: TranscriptWord[];
}

/** One word of a segment: its text as decoded (leading space included), times in seconds. */
export interface TranscriptWord {
  word: string;
  start: number;
  end: number;
  /** Mean probability of the word's tokens. */
  probability: number;
}

/** A clip's transcript, one line of transcripts.jsonl. */
export interface TranscriptRecord {
  id: string;
  model: string;
  language: string | null;
  language_prob: number | null;
  text: string;
  no_speech: boolean;
  duration_s: number | null;
  segments: TranscriptSegment[];
  timings?: Record<string, number>;
}

/** Everything `store` writes for one archive, in one transaction. */
export interface ArchiveRecord {
  date: string;
  archive: string;
  clips: ClipRecord[];
  metadata: Map<string, ClipMetadata>;
  transcripts: TranscriptRecord[];
}

/** A line of transcripts.jsonl: a transcript, or the reason a clip could not be transcribed. */
export type TranscriptLine = TranscriptRecord | { id: string; error: string };

/** The stages that write an archive's staging folder, in the order they run. */
export const STAGES = ['extract', 'convert', 'transcribe', 'store', 'upload', 'cleanup'] as const;
export type Stage = (typeof STAGES)[number];

/**
 * Who last wrote the manifest: one attempt of one stage of one run of the archive's workflow.
 * An attempt may write only if no later stage, and no later attempt of its own stage, of the same
 * run has written since (see lib/staging.ts): a timed-out attempt that has not noticed yet cannot
 * overwrite its retry's work.
 */
export interface ManifestWriter {
  run: string;
  stage: Stage;
  attempt: number;
}

/** `manifest.json`. */
export interface ArchiveManifest {
  date: string;
  archive: string;
  metadataPath: string | null;
  refused: { entry: string; reason: string }[];
  clips: ClipRecord[];
  writer?: ManifestWriter;
}

/** true when `writer` may write over a manifest last written by `last`. */
export function mayWrite(writer: ManifestWriter, last: ManifestWriter | undefined): boolean {
  if (!last || last.run !== writer.run) return true; // a new run of the archive starts afresh
  const order = STAGES.indexOf(writer.stage) - STAGES.indexOf(last.stage);
  return order > 0 || (order === 0 && writer.attempt >= last.attempt);
}

// ---- The clip state machine: every status change of a clip goes through one of these. ----

/** Clips the convert stage works on: not failed, not yet stored, with an MP3. */
export function clipsToConvert(manifest: ArchiveManifest): ClipRecord[] {
  return manifest.clips.filter((c) => c.mp3Path && (c.status === 'pending' || c.status === 'converted'));
}

/** Clips that have an Opus file to transcribe. */
export function clipsToTranscribe(manifest: ArchiveManifest): ClipRecord[] {
  return manifest.clips.filter((c) => c.status === 'converted' && c.opusPath);
}

/** Clips whose row is stored and whose Opus file goes to storage. */
export function clipsToUpload(manifest: ArchiveManifest): ClipRecord[] {
  return manifest.clips.filter((c) => (c.status === 'stored' || c.status === 'uploaded') && c.opusPath);
}

export function markConverted(
  clip: ClipRecord,
  opusPath: string,
  opus: { bytes: number; durationS: number; sha256: string },
): void {
  Object.assign(clip, {
    status: 'converted',
    error: null,
    opusPath,
    opusBytes: opus.bytes,
    durationS: opus.durationS,
    sha256: opus.sha256,
  });
}

/** The clip fails at `stage`; its reason is kept as `<stage>: <reason>`. */
export function markFailed(clip: ClipRecord, stage: Stage, reason: string): void {
  clip.status = 'failed';
  clip.error = `${stage}: ${reason}`;
}

/**
 * The store stage's transition: a converted clip with a transcript line is `stored`, one whose
 * line is an error or missing is `failed` with the reason; a clip that was never converted (its
 * manifest was rebuilt after a crash) fails as not converted. Returns the transcripts to store.
 */
export function applyTranscripts(manifest: ArchiveManifest, lines: TranscriptLine[]): TranscriptRecord[] {
  const lineOf = new Map(lines.map((l) => [l.id, l]));
  const transcripts: TranscriptRecord[] = [];
  for (const clip of manifest.clips) {
    if (clip.status === 'failed') continue;
    const line = lineOf.get(clip.id);
    if (clip.status === 'pending') markFailed(clip, 'convert', 'not converted');
    else if (!line) markFailed(clip, 'transcribe', 'no transcript produced');
    else if ('error' in line) markFailed(clip, 'transcribe', line.error);
    else {
      clip.status = 'stored';
      transcripts.push(line);
    }
  }
  return transcripts;
}

/** The upload stage's transition: the clip's Opus file is in storage at `uri`. */
export function markUploaded(clip: ClipRecord, uri: string): void {
  clip.status = 'uploaded';
  clip.storageUri = uri;
}
