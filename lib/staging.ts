import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { locateContents } from './archive/extract.ts';
import { joinClipsWithMetadata } from './archive/clip-join.ts';
import { describeOpus } from './audio/convert.ts';
import { fsyncPath, removeTempLeftovers, writeFileAtomic } from './atomic-file.ts';
import {
  markConverted,
  mayWrite,
  type ArchiveManifest,
  type ManifestWriter,
  type TranscriptLine,
} from './manifest.ts';
import { BadInputError } from './errors.ts';
import { readMetadataReport } from './metadata/read.ts';
import { readMetadataRows } from './metadata/rows-file.ts';

export type { ArchiveManifest } from './manifest.ts';

/**
 * One attempt of one stage, as it writes the staging folder: who it is (for the manifest's
 * fence) and the signal that tells it it was cancelled (timed out, the workflow cancelled).
 */
export interface StageAttempt extends ManifestWriter {
  signal?: AbortSignal;
}

/** A write refused because a newer attempt (or a later stage) already wrote the manifest. */
export class SupersededError extends Error {
  constructor(attempt: ManifestWriter, last: ManifestWriter) {
    super(
      `${attempt.stage} attempt ${attempt.attempt} was superseded by ${last.stage} attempt ${last.attempt}: its writes are refused`,
    );
    this.name = 'SupersededError';
  }
}

/** A lock older than this was left by a process killed while holding it (it is held for ms). */
const LOCK_STALE_MS = 10_000;

/**
 * DESIGN.md §1 staging layout: `$STAGING_DIR/<date>/<archive>/{archive.tar.xz, extracted/, opus/,
 * transcripts.jsonl}` plus `manifest.json`, the per-clip state every stage reads. This module owns
 * the folder's formats and how they change safely:
 * - every write is atomic and durable (lib/atomic-file.ts);
 * - every manifest write and every rename that publishes a stage's result is fenced: it happens
 *   under a lock, only if no newer attempt or later stage has written the manifest since
 *   (`mayWrite`), and only if the attempt was not cancelled — so an attempt that timed out but
 *   still runs cannot overwrite its retry's files;
 * - a damaged `manifest.json` (a power loss before it reached the disk) is rebuilt from the
 *   folder's contents instead of failing the archive.
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

  /**
   * Starts an attempt of a stage: records it as the manifest's writer (refused with
   * SupersededError if a newer one is recorded) and removes the temp files killed attempts left.
   * Returns the manifest, rebuilt if it was damaged. The extract stage, which writes the
   * manifest afresh, gets null when there is none (or only a damaged one).
   */
  async beginAttempt(attempt: StageAttempt): Promise<{ manifest: ArchiveManifest | null; rebuilt: boolean }> {
    const result = await this.locked(async () => {
      const found = await this.readManifestFile();
      let manifest: ArchiveManifest | null = null;
      let rebuilt = false;
      if (typeof found === 'object') manifest = found;
      else if (attempt.stage !== 'extract') {
        manifest = await this.rebuildManifest(found);
        rebuilt = true;
      }
      if (manifest) await this.writeUnlocked(manifest, attempt);
      return { manifest, rebuilt };
    });
    for (const dir of [this.dir, this.opusDir]) await removeTempLeftovers(dir);
    return result;
  }

  /** The manifest as it is on disk, rebuilt if damaged. */
  async readManifest(): Promise<ArchiveManifest> {
    const found = await this.readManifestFile();
    return found === 'missing' || found === 'damaged' ? this.rebuildManifest(found) : found;
  }

  /** Writes the manifest for `attempt`, unless a newer attempt has written it since. */
  async writeManifest(manifest: ArchiveManifest, attempt: StageAttempt): Promise<void> {
    await this.locked(() => this.writeUnlocked(manifest, attempt));
  }

  /** transcripts.jsonl and its resume protocol, for one attempt of the transcribe stage. */
  transcripts(attempt: StageAttempt, model: string): TranscriptJournal {
    return new TranscriptJournal(this, attempt, model);
  }

  /** Runs `publish` (a rename) only if `attempt` is still the newest writer and not cancelled. */
  async publish(attempt: StageAttempt, publish: () => Promise<void>): Promise<void> {
    await this.locked(async () => {
      await this.checkFence(attempt);
      await publish();
      await fsyncPath(this.dir);
    });
  }

  private async writeUnlocked(manifest: ArchiveManifest, attempt: StageAttempt): Promise<void> {
    await this.checkFence(attempt);
    const writer: ManifestWriter = { run: attempt.run, stage: attempt.stage, attempt: attempt.attempt };
    manifest.writer = writer;
    await writeFileAtomic(this.manifestFile, JSON.stringify(manifest), { signal: attempt.signal });
  }

  private async checkFence(attempt: StageAttempt): Promise<void> {
    attempt.signal?.throwIfAborted();
    const found = await this.readManifestFile();
    const last = typeof found === 'object' ? found.writer : undefined;
    if (last && !mayWrite(attempt, last)) throw new SupersededError(attempt, last);
  }

  private async readManifestFile(): Promise<ArchiveManifest | 'missing' | 'damaged'> {
    let text: string;
    try {
      text = await readFile(this.manifestFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw err;
    }
    try {
      const manifest = JSON.parse(text) as ArchiveManifest;
      const whole =
        manifest.date === this.date && manifest.archive === this.archive && Array.isArray(manifest.clips);
      return whole ? manifest : 'damaged';
    } catch {
      return 'damaged'; // torn or empty: written without reaching the disk before a crash
    }
  }

  /**
   * The manifest again from what the folder holds: the extracted clips joined with their
   * metadata (as extract made it) and every complete Opus file taken as converted. What later
   * stages recorded is recomputed by them: store and upload are idempotent. Refused entries
   * were reported when the archive was extracted and are not listed again.
   */
  private async rebuildManifest(found: 'missing' | 'damaged'): Promise<ArchiveManifest> {
    const files = await listFiles(this.extractDir);
    if (!files) {
      throw new Error(
        `${this.manifestFile} is ${found} and ${this.extractDir} is gone: process the archive again`,
      );
    }
    const { metadataPath, audioFiles } = locateContents(files.map((f) => f.path));
    const metadataFile = metadataPath && path.join(this.extractDir, metadataPath);
    // The rows extract parsed (metadata-rows.json, written before the manifest), else the parquet;
    // one extract could not use costs the metadata, as it did then.
    const metadata =
      (await readMetadataRows(this.metadataRowsFile)) ??
      (metadataFile
        ? await readMetadataReport(metadataFile).then(
            (r) => r.rows,
            (err: unknown) => {
              if (err instanceof BadInputError) return [];
              throw err;
            },
          )
        : []);
    const clips = joinClipsWithMetadata(
      { date: this.date, archive: this.archive },
      audioFiles.map((f) => path.join(this.extractDir, f)),
      metadata,
      files,
    );
    for (const clip of clips) {
      if (clip.status !== 'pending') continue;
      const opus = await describeOpus(this.opusPath(clip.id));
      if (opus) markConverted(clip, this.opusPath(clip.id), opus);
    }
    return { date: this.date, archive: this.archive, metadataPath: metadataFile, refused: [], clips };
  }

  /**
   * A lock folder (mkdir is atomic, on network filesystems too) around read-check-write. Only
   * inside an existing staging folder: an attempt that outlived cleanup must not create it again.
   */
  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const lock = path.join(this.dir, 'manifest.lock');
    for (;;) {
      try {
        await mkdir(lock);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new Error(`${this.dir} is gone (cleaned up, or never staged)`);
        if (code !== 'EEXIST') throw err;
        const held = await stat(lock).catch(() => null);
        if (held && Date.now() - held.mtimeMs > LOCK_STALE_MS)
          await rm(lock, { recursive: true, force: true });
        else await new Promise((r) => setTimeout(r, 10));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}

/**
 * `transcripts.jsonl` and its resume protocol. Each attempt appends finished batches to a partial
 * file of its own (`transcripts.jsonl.partial-<attempt>-<random>`), so a timed-out attempt still
 * running appends nowhere its retry reads from. A retry starts from the lines of every partial
 * file (same model), and the complete file is published under the manifest's fence.
 */
export class TranscriptJournal {
  private readonly partial: string;
  constructor(
    private readonly staging: ArchiveStaging,
    private readonly attempt: StageAttempt,
    private readonly model: string,
  ) {
    this.partial = `${staging.transcriptsFile}.partial-${attempt.attempt}-${randomBytes(4).toString('hex')}`;
  }

  /** Lines written with another model (WHISPER_MODEL changed between runs) are not reused. */
  private usable = (line: TranscriptLine) => 'error' in line || line.model === this.model;

  /** The complete file's lines when it covers every clip in `ids` (a retry after it was written). */
  async finished(ids: string[]): Promise<TranscriptLine[] | null> {
    const lines = (await readTranscriptLines(this.staging.transcriptsFile)).filter(this.usable);
    const have = new Set(lines.map((l) => l.id));
    return lines.length > 0 && ids.every((id) => have.has(id)) ? lines : null;
  }

  /** Gathers what earlier attempts finished into this attempt's partial file; returns their ids. */
  async resume(): Promise<Set<string>> {
    const kept = new Map<string, TranscriptLine>();
    for (const file of await this.partialFiles()) {
      for (const line of await readTranscriptLines(file))
        if (this.usable(line) && !kept.has(line.id)) kept.set(line.id, line);
    }
    // Rewritten whole, so that a torn last line cannot swallow the next append.
    await writeFileAtomic(this.partial, toJsonl([...kept.values()]), { signal: this.attempt.signal });
    return new Set(kept.keys());
  }

  async append(lines: TranscriptLine[]): Promise<void> {
    this.attempt.signal?.throwIfAborted();
    await appendFile(this.partial, toJsonl(lines));
  }

  /** Publishes this attempt's partial file as transcripts.jsonl; returns its lines. */
  async complete(): Promise<TranscriptLine[]> {
    await fsyncPath(this.partial);
    await this.staging.publish(this.attempt, () => rename(this.partial, this.staging.transcriptsFile));
    for (const file of await this.partialFiles()) await rm(file, { force: true });
    return readTranscriptLines(this.staging.transcriptsFile);
  }

  private async partialFiles(): Promise<string[]> {
    const base = path.basename(this.staging.transcriptsFile);
    const names = await readdir(this.staging.dir).catch(() => [] as string[]);
    return names.filter((n) => n.startsWith(`${base}.partial`)).map((n) => path.join(this.staging.dir, n));
  }
}

function toJsonl(lines: TranscriptLine[]): string {
  return lines.map((l) => JSON.stringify(l) + '\n').join('');
}

/** The lines of a transcripts file; none when it does not exist. */
export async function readTranscriptLines(file: string): Promise<TranscriptLine[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  // A crash mid-append can leave a torn last line: it is dropped and that batch redone.
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as TranscriptLine];
      } catch {
        return [];
      }
    });
}

/** Every file below `dir` (relative POSIX paths, sizes), or null when `dir` does not exist. */
async function listFiles(dir: string): Promise<{ path: string; bytes: number }[] | null> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    },
  );
  if (!entries) return null;
  const files: { path: string; bytes: number }[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || entry.name.includes('.tmp-')) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.push({ path: path.relative(dir, full).split(path.sep).join('/'), bytes: (await stat(full)).size });
  }
  return files;
}
