/**
 * Maps the pipeline's records (lib/manifest.ts, lib/metadata/types.ts) to table rows.
 * PostgreSQL rejects a few things JavaScript strings allow (NUL characters in text and jsonb);
 * values that cannot go into a typed column (a malformed timestamp, a count beyond int64) become
 * NULL there — the untouched value is still in `raw`, so nothing is lost.
 */
import type { ClipRecord, ClipStatus, TranscriptRecord } from '../../lib/manifest.ts';
import type { ClipMetadata } from '../../lib/metadata/types.ts';
import type { AudioFileInsert, AudioMetadataInsert, TranscriptInsert } from '../schema.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A UTF-16 surrogate without its partner: no Unicode character, and jsonb refuses its escape. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text PostgreSQL can hold: NUL characters (refused by text and jsonb) removed, lone surrogates
 * (refused by jsonb, mangled by the UTF-8 encoder) replaced by U+FFFD.
 */
export function cleanText(value: string): string;
export function cleanText(value: string | null | undefined): string | null;
export function cleanText(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const noNul = value.includes('\u0000') ? value.replaceAll('\u0000', '') : value;
  return noNul.replace(LONE_SURROGATE, '\uFFFD');
}

/** A JSON-safe copy for jsonb: NULs removed, BigInt → decimal string, bytes → base64. */
export function cleanJson(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return cleanText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(cleanJson);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v !== undefined) out[cleanText(key)] = cleanJson(v);
    }
    return out;
  }
  return String(value);
}

/** An int64 as a decimal string, or null when it is not one. */
export function int64(value: string | number | bigint | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : null;
  const text = String(value).trim();
  if (!/^-?\d{1,19}$/.test(text)) return null;
  const n = BigInt(text);
  return n >= INT64_MIN && n <= INT64_MAX ? n.toString() : null;
}

function timestamp(value: string | null | undefined): string | null {
  if (!value) return null;
  return Number.isNaN(Date.parse(value)) ? null : value;
}

function int32(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const n = Math.round(value);
  return n >= -2147483648 && n <= 2147483647 ? n : null;
}

function finite(value: number | null | undefined): number | null {
  return value === null || value === undefined || !Number.isFinite(value) ? null : value;
}

const textList = (values: string[] | null | undefined): string[] | null =>
  values ? values.filter((v) => typeof v === 'string').map((v) => cleanText(v)) : null;

/**
 * A clip's status once its row is in the database: whatever was done to it before store is
 * now stored. Failed stays failed (with its error), uploaded stays uploaded (a re-store after
 * upload), pending stays pending (it never got anywhere; say so rather than pretend).
 */
export function statusAfterStore(status: ClipStatus): ClipStatus {
  return status === 'converted' ? 'stored' : status;
}

export function audioFileRow(
  date: string,
  archive: string,
  clip: ClipRecord,
  meta: ClipMetadata | undefined,
): AudioFileInsert {
  return {
    id: clip.id,
    date,
    archive,
    sourceName: cleanText(clip.sourceName),
    status: statusAfterStore(clip.status),
    error: cleanText(clip.error),
    mp3Path: cleanText(clip.mp3Path),
    mp3Bytes: clip.mp3Bytes,
    opusPath: cleanText(clip.opusPath),
    opusBytes: clip.opusBytes,
    storageUri: cleanText(clip.storageUri),
    durationS: finite(clip.durationS),
    sha256: clip.sha256,
    hasMetadata: meta !== undefined,
    createTime: timestamp(meta?.createTime),
    description: cleanText(meta?.description),
    hashtags: textList(meta?.hashtags),
    mentions: textList(meta?.mentions),
    isAd: meta?.isAd ?? null,
    videoDuration: int32(meta?.videoDuration),
    musicId: cleanText(meta?.music.id),
    musicTitle: cleanText(meta?.music.title),
    musicAuthorName: cleanText(meta?.music.authorName),
    musicOriginal: meta?.music.original ?? null,
    region: cleanText(meta?.region),
    sourceQuery: cleanText(meta?.sourceQuery),
    collectedAt: timestamp(meta?.collectedAt),
    raw: meta ? (cleanJson(meta.raw) as Record<string, unknown>) : null,
  };
}

export function audioMetadataRow(meta: ClipMetadata): AudioMetadataInsert {
  const { author, stats, location } = meta;
  return {
    id: meta.id,
    authorId: cleanText(author.id),
    authorUniqueId: cleanText(author.uniqueId),
    authorNickname: cleanText(author.nickname),
    authorVerified: author.verified,
    authorFollowerCount: int64(author.followerCount),
    authorFollowingCount: int64(author.followingCount),
    authorHeartCount: int64(author.heartCount),
    authorVideoCount: int64(author.videoCount),
    playCount: int64(stats.playCount),
    diggCount: int64(stats.diggCount),
    shareCount: int64(stats.shareCount),
    commentCount: int64(stats.commentCount),
    collectCount: int64(stats.collectCount),
    locationCreated: cleanText(location.locationCreated),
    poiId: cleanText(location.poiId),
    poiName: cleanText(location.poiName),
    poiAddress: cleanText(location.poiAddress),
    poiCity: cleanText(location.poiCity),
    poiProvince: cleanText(location.poiProvince),
    poiCountry: cleanText(location.poiCountry),
  };
}

export function transcriptRow(t: TranscriptRecord): TranscriptInsert {
  return {
    id: t.id,
    model: cleanText(t.model),
    language: cleanText(t.language),
    languageProb: finite(t.language_prob),
    text: cleanText(t.text ?? ''),
    noSpeech: t.no_speech,
    durationS: finite(t.duration_s),
    segments: cleanJson(t.segments ?? []) as unknown[],
    timings: t.timings ? (cleanJson(t.timings) as Record<string, number>) : null,
  };
}
