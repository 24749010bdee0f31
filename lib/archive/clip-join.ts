import path from 'node:path';
import { isSafeClipId } from '../clip-id.ts';
import type { ClipRecord } from '../manifest.ts';
import type { ClipMetadata } from '../metadata/types.ts';

/**
 * One record per video, whichever side it came from (tiktok-metadata.md): a row with its clip is
 * `pending`; a row without a clip is `failed` with reason `no audio`; a clip without a row keeps
 * the id from its file name and `hasMetadata: false`, and is processed like any other. An id
 * that could not safely name a file (`../x`, `a b`) is `failed` with that reason.
 */
const UNSAFE_ID = 'unsafe id: not a plain token of letters, digits, _ and -';

export function joinClipsWithMetadata(
  ref: { date: string; archive: string },
  audioFiles: string[],
  metadata: ClipMetadata[],
  files: { path: string; bytes: number }[],
): ClipRecord[] {
  const sizeOf = new Map(files.map((f) => [path.basename(f.path), f.bytes]));
  const byName = new Map(audioFiles.map((f) => [path.basename(f), f]));
  const records = new Map<string, ClipRecord>();
  const blank = {
    ...ref,
    error: null,
    opusPath: null,
    opusBytes: null,
    storageUri: null,
    durationS: null,
    sha256: null,
  };

  for (const row of metadata) {
    const name = path.basename(row.audioFile || `${row.id}.mp3`);
    const file = byName.get(name);
    if (file) byName.delete(name);
    // An id becomes file names (staging, storage): one that is not a plain token fails alone.
    const error = !isSafeClipId(row.id) ? UNSAFE_ID : file ? null : 'no audio';
    records.set(row.id, {
      ...blank,
      id: row.id,
      sourceName: file ? name : null,
      status: error ? 'failed' : 'pending',
      error,
      mp3Path: error ? null : (file ?? null),
      mp3Bytes: file ? (sizeOf.get(name) ?? null) : null,
      hasMetadata: true,
    });
  }
  for (const [name, file] of byName) {
    const id = path.basename(name, path.extname(name));
    if (records.has(id)) continue; // a second file for a known id: the row's file wins
    const safe = isSafeClipId(id);
    records.set(id, {
      ...blank,
      id,
      sourceName: name,
      status: safe ? 'pending' : 'failed',
      error: safe ? null : UNSAFE_ID,
      mp3Path: safe ? file : null,
      mp3Bytes: sizeOf.get(name) ?? null,
      hasMetadata: false,
    });
  }
  return [...records.values()];
}
