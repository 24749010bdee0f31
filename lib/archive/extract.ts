import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { untrustedChildEnv } from '../config.ts';
import { BadInputError } from '../errors.ts';
import { CappedList, shownText } from '../untrusted-text.ts';

/**
 * Safe `.tar.xz` extraction (DESIGN.md §1, extract stage).
 *
 * `xz -dc` streams the archive into node-tar's Parser (a parser only: node-tar's own unpacker is
 * not used) and every entry is written here, by rules that are easy to state:
 * - only regular files and directories are written; symbolic links, hard links (wherever they
 *   point — a clip archive has no use for links, so none is ever created), devices, FIFOs and
 *   unknown entry types are refused;
 * - a path that is absolute or holds a `..` component is refused, and every parent directory
 *   must resolve (realpath) inside the target, so nothing is written outside it;
 * - an entry larger than `maxEntryBytes` is refused; when xz's output (every byte of it: refused
 *   entries, headers and padding count too) grows beyond `maxTotalBytes`, or the archive holds
 *   more than `maxEntries` entries of any kind (empty files escape the byte cap but still cost an
 *   inode each), xz is killed and the whole extraction stops with BadInputError;
 * - pax and GNU long-name headers are capped at `maxMetaBytes` (a name needs far less than the
 *   parser's 1 MiB default; a bigger one is refused, not held in memory);
 * - xz runs with a decompression memory limit (`maxXzMemoryBytes`), so a crafted dictionary size
 *   cannot make it allocate gigabytes: an archive that needs more is a BadInputError;
 * - a file is written to a short temp name in its final folder and renamed once complete, with
 *   mode 0644 whatever the archive says (no setuid, no owners);
 * - an entry whose name the filesystem will not take (too long, invalid bytes) is refused as an
 *   entry; the rest of the archive is still extracted;
 * - a corrupt or truncated archive throws BadInputError with xz's (or the tar parser's) reason,
 *   and the files this run had already written are removed again, since data decoded ahead of a
 *   failed xz block check cannot be trusted; xz is killed at the first tar error rather than
 *   left to decompress what nobody reads;
 * - an archive that is a compressed stream inside the xz (gzip, zstd) is refused: the tar parser
 *   would inflate it, uncounted.
 * Refused entries are skipped, never written, and reported with their reason: the first
 * `MAX_LISTED_REFUSALS` of them, names cut to a few hundred characters, plus their count, so
 * a report (and an activity result built from it) stays small whatever the archive holds.
 * xz runs with a minimal environment (no secrets for a decompressor exploited by its input).
 * Re-extracting into the same folder rewrites the same files (idempotent).
 */

export interface ExtractOptions {
  maxEntryBytes: number;
  maxTotalBytes: number;
  /** Most entries (files, directories, refused ones) an archive may hold; 50 000 by default. */
  maxEntries?: number;
  /** xz's `--memlimit-decompress`; 1 GiB by default. */
  maxXzMemoryBytes?: number;
  /** Largest pax / GNU long-name header; 64 KiB by default. */
  maxMetaBytes?: number;
  onProgress?: (progress: ExtractProgress) => void;
  /** Program used to decompress; `xz` on PATH by default. */
  xzPath?: string;
  /** Aborting stops the extraction: xz is killed, what was written removed, the reason thrown. */
  signal?: AbortSignal;
}

export interface ExtractProgress {
  entries: number;
  files: number;
  bytes: number;
  entry: string;
}

export interface RefusedEntry {
  entry: string;
  reason: string;
}

export interface ExtractReport {
  /** Every file written, path relative to destDir (POSIX separators), in archive order. */
  files: { path: string; bytes: number }[];
  /** The first MAX_LISTED_REFUSALS refused entries, names shortened (see shownText). */
  refused: RefusedEntry[];
  /** How many entries were refused in all. */
  refusedCount: number;
  /** Absolute path of `metadata.parquet` (at the root or under the one top folder), or null. */
  metadataPath: string | null;
  /** Absolute paths of the clips (audio files at the root or in `audio/`, or the same under the
   * one top folder), sorted. Hidden files such as macOS `._x.mp3` are not clips. */
  audioFiles: string[];
}

export const DEFAULT_MAX_ENTRIES = 50_000;
export const DEFAULT_MAX_XZ_MEMORY_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_META_BYTES = 64 * 1024;
/** Refused entries a report lists by name (all of them are counted). */
export const MAX_LISTED_REFUSALS = 100;
/** gzip and zstd magic numbers: node-tar would inflate such a stream itself. */
const COMPRESSED_MAGIC = [Buffer.from([0x1f, 0x8b]), Buffer.from([0x28, 0xb5, 0x2f, 0xfd])];

/** Errors that concern one entry's name (the filesystem refuses it), not the archive or the disk. */
const NAME_ERRORS: Record<string, string> = {
  ENAMETOOLONG: 'file name too long for the filesystem (ENAMETOOLONG)',
  EILSEQ: 'file name not accepted by the filesystem (EILSEQ)',
};

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

const AUDIO_EXTENSIONS = /\.(mp3|m4a|aac|wav|ogg|oga|opus|flac|webm|mp4)$/i;
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const REFUSED_TYPES: Record<string, string> = {
  CharacterDevice: 'character device',
  BlockDevice: 'block device',
  FIFO: 'FIFO',
};

/** A tar entry's path made relative and checked, or the reason it is refused. */
export function safeEntryPath(name: string): { ok: true; rel: string } | { ok: false; reason: string } {
  if (name.includes('\0')) return { ok: false, reason: 'path holds a NUL byte' };
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) {
    return { ok: false, reason: 'absolute path' };
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return { ok: false, reason: 'path escapes the target (.. component)' };
  return { ok: true, rel: parts.join('/') };
}

class EntryQueue {
  private items: ReadEntry[] = [];
  private waiter: ((entry: ReadEntry | null) => void) | undefined;
  private closed = false;
  push(entry: ReadEntry): void {
    if (this.closed) {
      entry.resume(); // parsing stopped: the archive fails, later entries are not written
      return;
    }
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(entry);
    else this.items.push(entry);
  }
  close(): void {
    this.closed = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(null);
  }
  next(): Promise<ReadEntry | null> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiter = resolve));
  }
  drain(): void {
    for (const e of this.items.splice(0)) e.resume();
  }
}

export async function extractArchive(
  archivePath: string,
  destDir: string,
  options: ExtractOptions,
): Promise<ExtractReport> {
  const { maxEntryBytes, maxTotalBytes, onProgress } = options;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxXzMemoryBytes = options.maxXzMemoryBytes ?? DEFAULT_MAX_XZ_MEMORY_BYTES;
  const maxMetaBytes = options.maxMetaBytes ?? DEFAULT_MAX_META_BYTES;
  const archiveStat = await stat(archivePath).catch((err: NodeJS.ErrnoException) => {
    throw new BadInputError(`cannot read archive (${err.code ?? err.message})`, archivePath);
  });
  if (!archiveStat.isFile()) throw new BadInputError('not a regular file', archivePath);
  options.signal?.throwIfAborted();

  await mkdir(destDir, { recursive: true });
  const root = await realpath(destDir);

  const xz = spawn(
    options.xzPath ?? 'xz',
    ['-dc', `--memlimit-decompress=${Math.floor(maxXzMemoryBytes)}`, '--', archivePath],
    { stdio: ['ignore', 'pipe', 'pipe'], env: untrustedChildEnv() },
  );
  let xzStderr = '';
  xz.stderr.setEncoding('utf8');
  xz.stderr.on('data', (chunk: string) => {
    if (xzStderr.length < 4096) xzStderr += chunk;
  });
  const xzExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    xz.on('error', (err) => reject(new Error(`cannot run xz to extract ${archivePath}: ${err.message}`)));
    xz.on('close', (code, signal) => resolve({ code, signal }));
  });
  // Keep an unhandled rejection from escaping while the loop below runs.
  xzExit.catch(() => undefined);

  const parser = new Parser({ strict: false, brotli: false, zstd: false, maxMetaEntrySize: maxMetaBytes });
  const queue = new EntryQueue();
  const refusals = new CappedList<RefusedEntry>(MAX_LISTED_REFUSALS);
  const noteRefused = (entry: string, reason: string) =>
    refusals.push({ entry: shownText(entry), reason: shownText(reason) });
  let tarProblem: string | null = null;
  let fatal: Error | null = null;
  let parsing = true;
  let seen = 0; // entries of every kind, the ones the parser skips included (maxEntries)
  let decompressed = 0; // every byte out of xz (maxTotalBytes)

  // Resolves when xz is stopped: an entry being written then gets no more data, and stops too.
  let markStopped = () => {};
  const stopped = new Promise<{ done: true; value: undefined }>((resolve) => {
    markStopped = () => resolve({ done: true, value: undefined });
  });
  // Nothing more is read: xz is stopped at once rather than drained.
  const stopXz = () => {
    parsing = false;
    queue.close();
    markStopped();
    xz.stdout.destroy();
    xz.kill('SIGKILL');
  };
  const stopFatal = (err: Error) => {
    fatal ??= err;
    stopXz();
  };
  const tooManyEntries = () =>
    stopFatal(new BadInputError(`archive holds more than ${maxEntries} entries`, archivePath));
  const stopParsing = (problem: string) => {
    tarProblem ??= shownText(problem, 600);
    stopXz();
  };
  parser.on('entry', (entry: ReadEntry) => queue.push(entry));
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    if (++seen > maxEntries) {
      tooManyEntries();
      return;
    }
    const meta = /ExtendedHeader|LongPath|LongLinkpath/.test(entry.type as string);
    noteRefused(
      entry.path,
      meta
        ? `${entry.type} header of ${entry.size} bytes exceeds the limit of ${maxMetaBytes} bytes`
        : `unsupported entry type ${entry.type}`,
    );
  });
  parser.on('warn', (code: string, message: string) => {
    if (code !== 'TAR_ENTRY_INFO') stopParsing(`${code}: ${message}`);
  });
  parser.on('error', (err: Error) => stopParsing(err.message));
  parser.on('end', () => queue.close());
  parser.on('close', () => queue.close());

  // A cancelled activity stops here: xz is killed, the entry in progress ends, and the loop below
  // stops with the cancellation as the failure.
  const onAbort = () => {
    const reason: unknown = options.signal?.reason;
    stopFatal(reason instanceof Error ? reason : new Error(`extraction of ${archivePath} cancelled`));
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  xz.stdout.on('data', (chunk: Buffer) => {
    if (!parsing) return;
    if (decompressed === 0 && COMPRESSED_MAGIC.some((m) => chunk.subarray(0, m.length).equals(m))) {
      stopFatal(new BadInputError('holds a gzip or zstd stream inside the xz, not a tar', archivePath));
      return;
    }
    decompressed += chunk.length;
    if (decompressed > maxTotalBytes) {
      stopFatal(new BadInputError(`archive expands beyond the limit of ${maxTotalBytes} bytes`, archivePath));
      return;
    }
    if (!parser.write(chunk)) xz.stdout.pause();
  });
  parser.on('drain', () => xz.stdout.resume());
  xz.stdout.on('end', () => {
    if (parsing) parser.end();
    else queue.close();
  });

  const files = new Map<string, number>();
  const written: string[] = [];
  const checkedDirs = new Set<string>([root]);
  let entries = 0;
  let total = 0;
  let pendingTemp: string | null = null;

  const ensureDir = async (dir: string): Promise<void> => {
    if (checkedDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    const real = await realpath(dir);
    if (real !== root && !real.startsWith(root + path.sep)) {
      throw Object.assign(new Error('a parent directory resolves outside the target'), { code: 'ESCAPE' });
    }
    checkedDirs.add(dir);
  };

  const writeEntry = async (entry: ReadEntry, rel: string): Promise<string | null> => {
    const full = path.join(root, rel);
    try {
      await ensureDir(path.dirname(full));
    } catch (err) {
      const code = errCode(err);
      if (code === 'ESCAPE' || code === 'ENOTDIR' || code === 'EEXIST') {
        entry.resume();
        return code === 'ESCAPE'
          ? 'a parent directory resolves outside the target'
          : 'a parent path is not a directory';
      }
      if (code && NAME_ERRORS[code]) {
        entry.resume();
        return NAME_ERRORS[code];
      }
      throw err;
    }
    // Short and independent of the entry's name, so that any name the filesystem takes as a
    // final name also works here (a name too long is then refused at the rename).
    const tmp = path.join(path.dirname(full), `.extract-${randomBytes(6).toString('hex')}.tmp`);
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'wx', 0o644);
    } catch (err) {
      const code = errCode(err);
      if (code && NAME_ERRORS[code]) {
        entry.resume();
        return NAME_ERRORS[code];
      }
      throw err;
    }
    pendingTemp = tmp;
    let bytes = 0;
    try {
      const chunks = (entry as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      for (;;) {
        const next = await Promise.race([chunks.next(), stopped]);
        if (next.done) break;
        bytes += next.value.length;
        await fh.write(next.value);
      }
    } finally {
      await fh.close();
    }
    if (bytes !== entry.size) {
      await rm(tmp, { force: true });
      pendingTemp = null;
      tarProblem ??= `truncated entry ${entry.path} (${bytes} of ${entry.size} bytes)`;
      return null;
    }
    try {
      await rename(tmp, full);
    } catch (err) {
      await rm(tmp, { force: true });
      pendingTemp = null;
      const code = errCode(err);
      if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
        return 'conflicts with an existing directory';
      }
      if (code && NAME_ERRORS[code]) return NAME_ERRORS[code];
      throw err;
    }
    pendingTemp = null;
    written.push(full);
    files.delete(rel); // a later entry with the same path wins, listed at its own position
    files.set(rel, bytes);
    return null;
  };

  const refuse = (entry: ReadEntry, reason: string) => {
    noteRefused(entry.path, reason);
    entry.resume();
  };

  try {
    for (let entry = await queue.next(); entry; entry = await queue.next()) {
      if (++seen > maxEntries) tooManyEntries();
      if (fatal) {
        entry.resume();
        break;
      }
      entries++;
      const type = entry.type as string;
      if (type === 'SymbolicLink') {
        refuse(entry, `symbolic link to ${entry.linkpath ?? '?'} (links are refused)`);
      } else if (type === 'Link') {
        refuse(entry, `hard link to ${entry.linkpath ?? '?'} (links are refused)`);
      } else if (REFUSED_TYPES[type]) {
        refuse(entry, `${REFUSED_TYPES[type]} (only regular files and directories are extracted)`);
      } else if (!FILE_TYPES.has(type) && type !== 'Directory') {
        refuse(entry, `unsupported entry type ${type}`);
      } else {
        const safe = safeEntryPath(entry.path);
        if (!safe.ok) {
          refuse(entry, safe.reason);
        } else if (type === 'Directory') {
          entry.resume();
          if (safe.rel !== '') {
            try {
              await ensureDir(path.join(root, safe.rel));
            } catch (err) {
              const code = errCode(err);
              const nameError = code ? NAME_ERRORS[code] : undefined;
              if (code !== 'ESCAPE' && code !== 'ENOTDIR' && code !== 'EEXIST' && !nameError) throw err;
              noteRefused(
                entry.path,
                nameError ??
                  (code === 'ESCAPE' ? 'resolves outside the target' : 'a path component is not a directory'),
              );
            }
          }
        } else if (safe.rel === '') {
          refuse(entry, 'empty path');
        } else if (entry.size > maxEntryBytes) {
          refuse(entry, `${entry.size} bytes exceeds the per-entry limit of ${maxEntryBytes} bytes`);
        } else if (total + entry.size > maxTotalBytes) {
          entry.resume();
          stopFatal(
            new BadInputError(
              `archive expands beyond the limit of ${maxTotalBytes} bytes (at entry ${shownText(entry.path)})`,
              archivePath,
            ),
          );
          break;
        } else {
          total += entry.size;
          const reason = await writeEntry(entry, safe.rel);
          if (reason) noteRefused(entry.path, reason);
        }
      }
      onProgress?.({ entries, files: files.size, bytes: total, entry: entry.path });
    }
  } catch (err) {
    stopFatal(err instanceof Error ? err : new Error(String(err)));
  }

  queue.drain();
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    exit = await xzExit;
  } catch (err) {
    exit = { code: null, signal: null };
    fatal ??= err as Error;
  }

  options.signal?.removeEventListener('abort', onAbort);
  let failure: Error | null = null;
  if (fatal) {
    failure = fatal;
  } else if (exit.code !== null && exit.code !== 0) {
    const reason =
      xzStderr.split(`${archivePath}: `).join('').trim().split('\n').slice(0, 3).join(' / ') ||
      `exited with code ${exit.code}`;
    const xzReason = reason.startsWith('xz') ? reason : `xz: ${reason}`;
    failure = new BadInputError(
      /memory usage limit/i.test(xzStderr)
        ? `archive needs more memory to decompress than the limit of ${maxXzMemoryBytes} bytes: ${xzReason}`
        : `corrupt or truncated archive: ${xzReason}`,
      archivePath,
    );
  } else if (tarProblem) {
    failure = new BadInputError(`corrupt tar data: ${tarProblem}`, archivePath);
  } else if (exit.signal) {
    failure = new Error(`xz was killed by ${exit.signal} while extracting ${archivePath}`);
  }

  if (failure) {
    if (pendingTemp) await rm(pendingTemp, { force: true });
    await Promise.all(written.map((f) => rm(f, { force: true })));
    throw failure;
  }

  const paths = [...files.keys()];
  const { metadataPath, audioFiles } = locateContents(paths);
  return {
    files: paths.map((p) => ({ path: p, bytes: files.get(p) as number })),
    refused: refusals.items,
    refusedCount: refusals.count,
    metadataPath: metadataPath === null ? null : path.join(root, metadataPath),
    audioFiles: audioFiles.map((p) => path.join(root, p)),
  };
}

/**
 * Where the contract puts things (tiktok-metadata.md): `metadata.parquet` and the clips at the
 * archive root (clips possibly in `audio/`), or all of it under one top folder.
 */
export function locateContents(paths: string[]): { metadataPath: string | null; audioFiles: string[] } {
  let base = '';
  if (!paths.includes('metadata.parquet')) {
    const nested = paths.filter((p) => /^[^/]+\/metadata\.parquet$/.test(p));
    if (nested.length === 1) {
      base = nested[0].slice(0, -'metadata.parquet'.length);
    } else if (nested.length === 0) {
      const tops = new Set(paths.map((p) => p.split('/')[0]));
      if (tops.size === 1 && paths.every((p) => p.includes('/'))) base = `${[...tops][0]}/`;
    }
  }
  const metadataPath = paths.includes(`${base}metadata.parquet`) ? `${base}metadata.parquet` : null;
  const audioFiles = paths
    .filter((p) => {
      if (!p.startsWith(base)) return false;
      const rest = p.slice(base.length);
      const dir = path.posix.dirname(rest);
      const name = path.posix.basename(rest);
      return (dir === '.' || dir === 'audio') && !name.startsWith('.') && AUDIO_EXTENSIONS.test(name);
    })
    .sort();
  return { metadataPath, audioFiles };
}
