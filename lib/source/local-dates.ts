import { readdir } from 'node:fs/promises';
import { BadInputError } from '../errors.ts';
import { isCalendarDate } from '../archive/dates.ts';

const ARCHIVE_FILE = /^((\d{4}-\d{2}-\d{2})_\d{2}-\d{2})\.tar\.xz$/;

/**
 * Every date with `YYYY-MM-DD_HH-MM.tar.xz` archives in a local source folder, oldest first,
 * with its archive names; `from`/`to` (inclusive) narrow the range. Other files are not dates'
 * archives and are left to listLocalArchives to report when the date runs.
 */
export async function listLocalDates(
  dir: string,
  range: { from?: string; to?: string } = {},
): Promise<{ date: string; archives: string[] }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new BadInputError(`cannot read source folder (${(err as NodeJS.ErrnoException).code ?? err})`, dir);
  }
  const byDate = new Map<string, string[]>();
  for (const file of names.sort()) {
    const m = ARCHIVE_FILE.exec(file);
    if (!m || !isCalendarDate(m[2])) continue;
    const date = m[2];
    if ((range.from && date < range.from) || (range.to && date > range.to)) continue;
    byDate.set(date, [...(byDate.get(date) ?? []), m[1]]);
  }
  return [...byDate].map(([date, archives]) => ({ date, archives }));
}
