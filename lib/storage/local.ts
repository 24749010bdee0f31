import { copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isCalendarDate } from '../archive/dates.ts';
import { isSafeClipId } from '../clip-id.ts';
import { BadInputError } from '../errors.ts';
import { sha256File } from '../file-hash.ts';
import { fsyncPath, replaceAtomically, type ReplaceOptions } from '../atomic-file.ts';

export interface UploadFile {
  id: string;
  /** The Opus file to store. */
  path: string;
  /** Its sha256 when already known (from convert): saves hashing it again. */
  sha256?: string | null;
}

export interface UploadedFile {
  id: string;
  /** `file://` URL of the stored copy. */
  uri: string;
  bytes: number;
  /** true when an identical copy (same size and sha256) was already there. */
  skipped: boolean;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `<root>/<YYYY>/<MM>/<DD>/<id>.opus` (the layout rsync targets use too). */
export function storagePath(root: string, date: string, id: string): string {
  const m = DATE.exec(date);
  if (!m || !isCalendarDate(date))
    throw new BadInputError(`not a date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  // The id becomes a file name: anything but a plain token (a path, `..`) is refused.
  if (!isSafeClipId(id)) throw new BadInputError(`unsafe clip id for a file name: ${JSON.stringify(id)}`);
  return path.join(root, m[1], m[2], m[3], `${id}.opus`);
}

/**
 * Copies Opus files into the local storage root, each to a temp name, flushed to disk, then
 * renamed into place (lib/atomic-file.ts): when this returns, the copies survive a power loss, so
 * the rows may say uploaded and staging may be deleted. Idempotent: a destination that already
 * has the source's size and sha256 is left untouched.
 */
export async function uploadToLocal(
  root: string,
  date: string,
  files: UploadFile[],
  options: ReplaceOptions = {},
): Promise<UploadedFile[]> {
  const absRoot = path.resolve(root);
  const results: UploadedFile[] = [];
  for (const file of files) {
    const dest = storagePath(absRoot, date, file.id);
    let source;
    try {
      source = await stat(file.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new BadInputError('no such file to upload', file.path);
      throw err;
    }
    const existing = await stat(dest).catch(() => null);
    const uri = pathToFileURL(dest).href;
    if (existing?.isFile() && existing.size === source.size) {
      const want = file.sha256 ?? (await sha256File(file.path));
      if ((await sha256File(dest)) === want) {
        // Left by an attempt that may have died before flushing it: flushed before it counts.
        await fsyncPath(dest);
        await fsyncPath(path.dirname(dest));
        results.push({ id: file.id, uri, bytes: source.size, skipped: true });
        continue;
      }
    }
    await replaceAtomically(dest, (tmp) => copyFile(file.path, tmp), options);
    results.push({ id: file.id, uri, bytes: source.size, skipped: false });
  }
  return results;
}
