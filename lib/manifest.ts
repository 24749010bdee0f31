/**
 * What activities exchange (DESIGN.md §1): paths, ids, counts and statuses — never audio bytes or
 * transcripts. Per-clip lists live in `manifest.json` inside the archive's staging folder so that
 * workflow payloads stay small whatever the archive size.
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
