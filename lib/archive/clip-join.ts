import path from 'node:path';
import type { ClipRecord } from '../manifest.ts';
import type { ClipMetadata } from '../metadata/types.ts';

/**
 * One record per video, whichever side it came from (tiktok-metadata.md): a row with its clip is
 * `pending`; a row without a clip is `failed` with reason `no audio`; a clip without a row keeps
 * the id from its file name and `hasMetadata: false`, and is processed like any other.
 */
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
    records.set(row.id, {
      ...blank,
      id: row.id,
      sourceName: file ? name : null,
      status: file ? 'pending' : 'failed',
      error: file ? null : 'no audio',
      mp3Path: file ?? null,
      mp3Bytes: file ? (sizeOf.get(name) ?? null) : null,
      hasMetadata: true,
    });
    if (file) byName.delete(name);
  }
  for (const [name, file] of byName) {
    const id = path.basename(name, path.extname(name));
    if (records.has(id)) continue; // a second file for a known id: the row's file wins
    records.set(id, {
      ...blank,
      id,
      sourceName: name,
      status: 'pending',
      mp3Path: file,
      mp3Bytes: sizeOf.get(name) ?? null,
      hasMetadata: false,
    });
  }
  return [...records.values()];
}
