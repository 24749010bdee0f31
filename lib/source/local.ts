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
  const entries = [];
  for (const file of names.sort()) {
    if (!file.startsWith(date)) continue;
    const s = ARCHIVE_FILE.test(file) ? await stat(path.join(dir, file)) : null;
    entries.push({ name: file, bytes: s?.size ?? 0, isFile: s?.isFile() ?? false });
  }
  return pickArchives(entries, date, ignored);
}

/**
 * The date's archives among a folder's entries (a local folder's, a Globus listing's), in time
 * order. Entries of the date that are not `YYYY-MM-DD_HH-MM.tar.xz` files go to `ignored`.
 */
export function pickArchives(
  entries: { name: string; bytes: number; isFile: boolean }[],
  date: string,
  ignored: string[],
): ArchiveListing[] {
  const listings: ArchiveListing[] = [];
  for (const entry of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!entry.name.startsWith(date)) continue;
    const m = ARCHIVE_FILE.exec(entry.name);
    if (m?.[1].startsWith(`${date}_`) && entry.isFile) listings.push({ name: m[1], bytes: entry.bytes });
    else ignored.push(entry.name);
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
