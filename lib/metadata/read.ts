import { readFile } from 'node:fs/promises';
import { parquetMetadata, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { clipKey } from '../clip-id.ts';
import { BadInputError } from '../errors.ts';
import { CappedList, shownText } from '../untrusted-text.ts';
import type { ClipMetadata } from './types.ts';

/**
 * metadata.parquet → typed rows (tiktok-metadata.md). Every column of a row is kept in `raw`
 * (unknown ones too) as JSON-safe values; a missing optional column never fails; `id` is the one
 * required column. Rows that cannot be keyed (null or empty id) are skipped and reported in
 * `problems`, as are repeated ids (the first row wins), so nothing disappears silently. An id
 * that is not a plain token (a NUL byte, 8,000 characters, `../x`) keeps its row under a stand-in
 * key (lib/clip-id.ts) and fails alone.
 *
 * Memory is bounded by what the footer declares, checked before anything is decoded: at most
 * `maxRows` rows (MAX_PARQUET_ROWS) and MAX_ROW_GROUP_BYTES of uncompressed data per row group;
 * row groups are decoded one at a time; problems are counted, the first few listed.
 */
export interface MetadataReadResult {
  rows: ClipMetadata[];
  /** The first MAX_LISTED_PROBLEMS skipped or stand-in rows, naming the row (0-based) and why. */
  problems: string[];
  /** How many rows had a problem in all. */
  problemCount: number;
  /** All columns of the file, in file order. */
  columns: string[];
}

export interface MetadataReadOptions {
  /** Rows the footer may declare; default DEFAULT_MAX_PARQUET_ROWS. */
  maxRows?: number;
}

export const DEFAULT_MAX_PARQUET_ROWS = 100_000;
/** Uncompressed bytes one row group may declare: hundreds of times a real archive's. */
export const MAX_ROW_GROUP_BYTES = 256 * 1024 * 1024;
export const MAX_LISTED_PROBLEMS = 20;

/** The rows only (problems are dropped): see {@link readMetadataReport} to get them. */
export async function readMetadata(
  parquetPath: string,
  options: MetadataReadOptions = {},
): Promise<ClipMetadata[]> {
  return (await readMetadataReport(parquetPath, options)).rows;
}

export async function readMetadataReport(
  parquetPath: string,
  options: MetadataReadOptions = {},
): Promise<MetadataReadResult> {
  const maxRows = options.maxRows ?? DEFAULT_MAX_PARQUET_ROWS;
  let bytes: Buffer;
  try {
    bytes = await readFile(parquetPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR')
      throw new BadInputError(`cannot read metadata (${code})`, parquetPath);
    throw err;
  }
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

  const rows: ClipMetadata[] = [];
  const problems = new CappedList<string>(MAX_LISTED_PROBLEMS);
  const seen = new Map<string, number>();
  let columns: string[];
  try {
    const metadata = parquetMetadata(file);
    columns = topLevelColumns(metadata.schema);
    if (!columns.includes('id')) throw new BadInputError('metadata has no id column', parquetPath);
    checkDeclaredSize(metadata, maxRows, parquetPath);
    let groupStart = 0;
    for (const group of metadata.row_groups) {
      const groupRows = Number(group.num_rows);
      // utf8: false keeps un-annotated BYTE_ARRAY columns binary (base64 in raw); UTF8 ones are text.
      const records = await parquetReadObjects({
        file,
        metadata,
        compressors,
        utf8: false,
        rowStart: groupStart,
        rowEnd: groupStart + groupRows,
      });
      records.forEach((record, i) => addRow(record, groupStart + i));
      groupStart += groupRows;
    }
  } catch (err) {
    if (err instanceof BadInputError) throw err;
    throw new BadInputError(
      `corrupt parquet: ${shownText(err instanceof Error ? err.message : String(err), 300)}`,
      parquetPath,
    );
  }
  return { rows, problems: problems.items, problemCount: problems.count, columns };

  function addRow(record: Record<string, unknown>, index: number): void {
    const raw: Record<string, unknown> = {};
    for (const name of columns) raw[name] = toJsonSafe(record[name]);
    const given = idString(record.id);
    if (given === null) {
      problems.push(`row ${index}: no id, skipped`);
      return;
    }
    const id = clipKey(given);
    const first = seen.get(id);
    if (first !== undefined) {
      problems.push(`row ${index}: id ${shownText(given, 60)} repeats row ${first}, skipped`);
      return;
    }
    seen.set(id, index);
    const row = toClipMetadata(id, record, raw);
    if (id !== given) {
      row.invalidId = shownText(given, 60);
      problems.push(`row ${index}: id "${row.invalidId}" is not a plain token; kept as ${id}, failed`);
    }
    rows.push(row);
  }
}

/** The footer's promises, checked before any page is decoded. */
function checkDeclaredSize(metadata: FileMetaData, maxRows: number, parquetPath: string): void {
  const declared = Number(metadata.num_rows);
  if (declared > maxRows) {
    throw new BadInputError(
      `declares ${declared} rows, more than the limit of ${maxRows} (MAX_PARQUET_ROWS)`,
      parquetPath,
    );
  }
  let counted = 0;
  for (const group of metadata.row_groups) {
    counted += Number(group.num_rows);
    if (Number(group.total_byte_size) > MAX_ROW_GROUP_BYTES) {
      throw new BadInputError(
        `a row group declares ${group.total_byte_size} uncompressed bytes, more than ${MAX_ROW_GROUP_BYTES}`,
        parquetPath,
      );
    }
  }
  if (counted > maxRows) {
    throw new BadInputError(
      `row groups hold ${counted} rows, more than the limit of ${maxRows} (MAX_PARQUET_ROWS)`,
      parquetPath,
    );
  }
}

function topLevelColumns(schema: { name: string; num_children?: number }[]): string[] {
  // The schema is a flattened tree in preorder: walk it to find the root's direct children.
  const names: string[] = [];
  let i = 1;
  const skip = (): void => {
    const children = schema[i].num_children ?? 0;
    i++;
    for (let c = 0; c < children; c++) skip();
  };
  const rootChildren = schema[0]?.num_children ?? 0;
  for (let c = 0; c < rootChildren && i < schema.length; c++) {
    names.push(schema[i].name);
    skip();
  }
  return names;
}

function toClipMetadata(id: string, r: Record<string, unknown>, raw: Record<string, unknown>): ClipMetadata {
  return {
    id,
    audioFile: str(r.audio_file)?.trim() || `${id}.mp3`,
    createTime: isoTime(r.create_time),
    description: str(r.desc),
    hashtags: stringList(r.hashtags),
    mentions: stringList(r.mentions),
    isAd: bool(r.is_ad),
    videoDuration: num(r.video_duration),
    music: {
      id: idString(r.music_id),
      title: str(r.music_title),
      authorName: str(r.music_author_name),
      original: bool(r.music_original),
    },
    region: str(r.location_created),
    sourceQuery: str(r.source_query),
    collectedAt: isoTime(r.collected_at),
    author: {
      id: idString(r.author_id),
      uniqueId: str(r.author_unique_id),
      nickname: str(r.author_nickname),
      verified: bool(r.author_verified),
      followerCount: count(r.author_follower_count),
      followingCount: count(r.author_following_count),
      heartCount: count(r.author_heart_count),
      videoCount: count(r.author_video_count),
    },
    stats: {
      playCount: count(r.play_count),
      diggCount: count(r.digg_count),
      shareCount: count(r.share_count),
      commentCount: count(r.comment_count),
      collectCount: count(r.collect_count),
    },
    location: {
      locationCreated: str(r.location_created),
      poiId: idString(r.poi_id),
      poiName: str(r.poi_name),
      poiAddress: str(r.poi_address),
      poiCity: str(r.poi_city),
      poiProvince: str(r.poi_province),
      poiCountry: str(r.poi_country),
    },
    raw,
  };
}

/**
 * A parquet value as JSON: bigint → number when exact, else decimal string; Date → ISO-8601;
 * bytes → base64; NaN/±Infinity → their names as strings; lists and structs recursively.
 */
export function toJsonSafe(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (ArrayBuffer.isView(value))
    return Array.from(value as unknown as ArrayLike<number | bigint>, toJsonSafe);
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toJsonSafe(v)]),
    );
  }
  return String(value);
}

function str(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return null;
}

/** Ids are decimal strings everywhere; an int64 id column (drift) converts exactly. */
function idString(v: unknown): string | null {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : null;
  const s = str(v)?.trim();
  return s ? s : null;
}

function bool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return v !== 0 && v !== 0n;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0') return false;
  }
  return null;
}

function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** An int64 count as an exact decimal string. */
function count(v: unknown): string | null {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? String(Math.trunc(v)) : null;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return v.trim();
  return null;
}

/** A timestamp as ISO-8601; epoch numbers (drift) are read as seconds below 1e11, else millis. */
function isoTime(v: unknown): string | null {
  let d: Date | null = null;
  if (v instanceof Date) d = v;
  else if (typeof v === 'number' || typeof v === 'bigint') {
    const n = Number(v);
    d = new Date(Math.abs(n) < 1e11 ? n * 1000 : n);
  } else if (typeof v === 'string' && v.trim() !== '') {
    d = /^\d+$/.test(v.trim()) ? new Date(Number(v) < 1e11 ? Number(v) * 1000 : Number(v)) : new Date(v);
  }
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

/** A list<string> column; a JSON-array or comma-separated string (drift) is accepted too. */
function stringList(v: unknown): string[] {
  if (v === null || v === undefined) return [];
  if (Array.isArray(v)) return v.map(str).filter((s): s is string => s !== null && s !== '');
  if (typeof v === 'string') {
    const s = v.trim();
    if (s.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(s);
        if (Array.isArray(parsed)) return stringList(parsed);
      } catch {
        // not JSON: fall through to the comma form
      }
    }
    return s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  }
  return [];
}
