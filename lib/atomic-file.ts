import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** What a temp file's name carries after its target's name; `removeTempLeftovers` looks for it. */
const TEMP_MARK = '.tmp-';

export interface ReplaceOptions {
  /** Checked just before the rename: an attempt that was cancelled (timed out, superseded by its
   *  retry) must not put its file in place of the one the retry writes. */
  signal?: AbortSignal;
}

/**
 * Writes `target` so that no reader ever sees half of it, even after a power loss: `write` fills
 * a temp file beside it, which is flushed to disk (fsync) and only then renamed into place, and
 * the folder is flushed so that the rename itself is durable. Later state depends on that order —
 * a row marked uploaded, a staging copy deleted — so the file must be on disk before anything
 * records that it is. A failed `write` removes the temp file. The temp name carries the pid and
 * random bytes, since nodes sharing a staging filesystem can have the same pid. Returns what
 * `write` returns (a conversion's measurements, say).
 */
export async function replaceAtomically<T>(
  target: string,
  write: (tmp: string) => Promise<T>,
  options: ReplaceOptions = {},
): Promise<T> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const result = await write(tmp);
    await fsyncPath(tmp);
    options.signal?.throwIfAborted();
    await rename(tmp, target);
    await fsyncPath(path.dirname(target));
    return result;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** `data` to `file`, atomically and durably (see replaceAtomically). */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: ReplaceOptions = {},
): Promise<void> {
  await replaceAtomically(file, (tmp) => writeFile(tmp, data), options);
}

/** Flushes a file's or a folder's contents (a folder's: its entries, i.e. renames) to disk. */
export async function fsyncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes the temp files that a killed process left in `dir` (not below it): a retry starts from
 * finished files only. Returns the names removed.
 */
export async function removeTempLeftovers(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const leftovers = names.filter((n) => n.includes(TEMP_MARK));
  for (const name of leftovers) await rm(path.join(dir, name), { recursive: true, force: true });
  return leftovers;
}
