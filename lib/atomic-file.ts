import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `target` so that no reader ever sees half of it: `write` fills a temp file beside it,
 * which is renamed into place only when `write` succeeds, and removed when it fails. The temp name
 * carries the pid and random bytes, since nodes sharing a staging filesystem can have the same pid.
 * Returns what `write` returns (a conversion's measurements, say).
 */
export async function replaceAtomically<T>(target: string, write: (tmp: string) => Promise<T>): Promise<T> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const result = await write(tmp);
    await rename(tmp, target);
    return result;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** `data` to `file`, atomically (see replaceAtomically). */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await replaceAtomically(file, (tmp) => writeFile(tmp, data));
}
