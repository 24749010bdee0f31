import { copyFile, link, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { BadInputError } from '../errors.ts';
import { replaceAtomically } from '../atomic-file.ts';

export interface ArchiveListing {
  /** YYYY-MM-DD_HH-MM */
  name: string;
  bytes: number;
}

const ARCHIVE_FILE = /^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2})\.tar\.xz$/;

/**
 * The date's archives in a local folder, in time order. Names that start with the date but are
 * not `YYYY-MM-DD_HH-MM.tar.xz` regular files (a misnamed archive, a folder) are added to
 * `ignored`, so that they are reported rather than dropped silently.
 */
export async function listLocalArchives(
  dir: string,
  date: string,
  ignored: string[] = [],
): Promise<ArchiveListing[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new BadInputError(`cannot read source folder (${(err as NodeJS.ErrnoException).code ?? err})`, dir);
  }
  const listings: ArchiveListing[] = [];
  for (const file of names.sort()) {
    if (!file.startsWith(date)) continue;
    const m = ARCHIVE_FILE.exec(file);
    const s = m?.[1].startsWith(`${date}_`) ? await stat(path.join(dir, file)) : null;
    if (m && s?.isFile()) listings.push({ name: m[1], bytes: s.size });
    else ignored.push(file);
  }
  return listings;
}

/**
 * Puts `<dir>/<name>.tar.xz` at `target`: a hard link when source and staging share a filesystem
 * (instant, no extra space), else a copy to a temp name then a rename. Skips a target that
 * already has the source's size (a retried transfer resumes where it stopped).
 */
export async function stageLocalArchive(
  dir: string,
  name: string,
  target: string,
): Promise<{ bytes: number; method: 'link' | 'copy' | 'present' }> {
  const source = path.join(dir, `${name}.tar.xz`);
  const { size } = await stat(source);
  const existing = await stat(target).catch(() => null);
  if (existing?.size === size) return { bytes: size, method: 'present' };
  await mkdir(path.dirname(target), { recursive: true });
  if (existing) await unlink(target);
  try {
    await link(source, target);
    return { bytes: size, method: 'link' };
  } catch {
    await replaceAtomically(target, (tmp) => copyFile(source, tmp));
    return { bytes: size, method: 'copy' };
  }
}
