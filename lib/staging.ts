import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClipRecord } from './manifest.ts';
import { writeFileAtomic } from './atomic-file.ts';

/**
 * DESIGN.md §1 staging layout: `$STAGING_DIR/<date>/<archive>/{archive.tar.xz, audio/, opus/,
 * metadata.parquet, transcripts.jsonl}` plus `manifest.json`, the per-clip state every stage reads.
 */
export class ArchiveStaging {
  readonly dir: string;
  constructor(
    stagingDir: string,
    readonly date: string,
    readonly archive: string,
  ) {
    this.dir = path.join(stagingDir, date, archive);
  }
  get archiveFile(): string {
    return path.join(this.dir, 'archive.tar.xz');
  }
  get extractDir(): string {
    return path.join(this.dir, 'extracted');
  }
  get opusDir(): string {
    return path.join(this.dir, 'opus');
  }
  get manifestFile(): string {
    return path.join(this.dir, 'manifest.json');
  }
  /** metadata.parquet parsed once by extract, read by store (lib/metadata/rows-file.ts). */
  get metadataRowsFile(): string {
    return path.join(this.dir, 'metadata-rows.json');
  }
  get transcriptsFile(): string {
    return path.join(this.dir, 'transcripts.jsonl');
  }
  opusPath(id: string): string {
    return path.join(this.opusDir, `${id}.opus`);
  }

  async readManifest(): Promise<ArchiveManifest> {
    return JSON.parse(await readFile(this.manifestFile, 'utf8')) as ArchiveManifest;
  }
  async writeManifest(manifest: ArchiveManifest): Promise<void> {
    await writeFileAtomic(this.manifestFile, JSON.stringify(manifest));
  }
}

export interface ArchiveManifest {
  date: string;
  archive: string;
  metadataPath: string | null;
  refused: { entry: string; reason: string }[];
  clips: ClipRecord[];
}
