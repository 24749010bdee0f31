import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.ts';
import type { ClipMetadata } from './types.ts';

/**
 * The parsed rows of an archive's metadata.parquet, kept in staging: the parquet is decoded once
 * (by extract, within its limits) and store reads plain JSON instead of decoding it again.
 */
export async function writeMetadataRows(file: string, rows: ClipMetadata[]): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(rows));
}

/** The rows extract wrote, or null when there is no such file (a staging folder from before). */
export async function readMetadataRows(file: string): Promise<ClipMetadata[] | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ClipMetadata[];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
