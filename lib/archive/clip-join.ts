import path from 'node:path';
import { clipKey } from '../clip-id.ts';
import type { ClipRecord } from '../manifest.ts';
import type { ClipMetadata } from '../metadata/types.ts';
import { shownText } from '../untrusted-text.ts';

/**
 * One record per video, whichever side it came from (tiktok-metadata.md): a row with its clip is
 * `pending`; a row without a clip is `failed` with reason `no audio`; a clip without a row keeps
 * the id from its file name and `hasMetadata: false`, and is processed like any other. An id
 * that could not safely name a file or a row (`../x`, `a b`, a NUL byte, 8,000 characters) is
 * `failed` with that reason, under a stand-in key (lib/clip-id.ts).
 */
const unsafeId = (shown: string) => `unsafe id "${shown}": not a plain token of letters, digits, _ and -`;

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
    const id = clipKey(row.id);
    const error =
      row.invalidId !== undefined || id !== row.id
        ? unsafeId(row.invalidId ?? shownText(row.id, 60))
        : file
          ? null
          : 'no audio';
    records.set(id, {
      ...blank,
      id,
      sourceName: file ? name : null,
      status: error ? 'failed' : 'pending',
      error,
      mp3Path: error ? null : (file ?? null),
      mp3Bytes: file ? (sizeOf.get(name) ?? null) : null,
      hasMetadata: true,
    });
  }
  for (const [name, file] of byName) {
    const stem = path.basename(name, path.extname(name));
    const id = clipKey(stem);
    if (records.has(id)) continue; // a second file for a known id: the row's file wins
    const safe = id === stem;
    records.set(id, {
      ...blank,
      id,
      sourceName: name,
      status: safe ? 'pending' : 'failed',
      error: safe ? null : unsafeId(shownText(stem, 60)),
      mp3Path: safe ? file : null,
      mp3Bytes: sizeOf.get(name) ?? null,
      hasMetadata: false,
    });
  }
  return [...records.values()];
}
