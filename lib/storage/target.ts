import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import type { ReplaceOptions } from '../atomic-file.ts';
import { uploadToLocal, type UploadedFile, type UploadFile } from './local.ts';
import { uploadWithRsync, type RsyncTarget, type SshSettings } from './rsync.ts';

/**
 * STORAGE_TARGET (DESIGN.md §5): a local folder, or `[user@]host:/path` for rsync over ssh.
 * As rsync does, a colon before the first slash means a remote host; `file://` URLs and paths
 * (absolute or relative, `./a:b` included) are local.
 */
export type LocalStorageTarget = { kind: 'local'; path: string };
export type ParsedStorageTarget =
  LocalStorageTarget | { kind: 'rsync'; user: string | null; host: string; path: string; spec: string };
/** A target ready to upload to: an rsync one knows how to reach its host (lib/config.ts). */
export type StorageTarget = LocalStorageTarget | RsyncTarget;
export type { RsyncTarget, SshSettings } from './rsync.ts';

/** Errors name no variable: lib/config.ts prefixes them with `STORAGE_TARGET=<value>`. */

export function parseStorageTarget(value: string): ParsedStorageTarget {
  const spec = value.trim();
  if (spec === '') throw new ConfigError('empty: expected a folder or user@host:/path');
  if (spec.startsWith('file://')) return { kind: 'local', path: fileURLToPath(spec) };
  if (spec.startsWith('rsync://')) {
    throw new ConfigError('rsync daemon URLs are not supported, use user@host:/path (rsync over ssh)');
  }
  const remote = /^(?:([^@/:\s]+)@)?([^@/:\s]+|\[[0-9A-Fa-f:.]+\]):(.*)$/.exec(spec);
  if (remote) {
    const [, user, host, remotePath] = remote;
    if (remotePath === '') throw new ConfigError("the remote path after ':' is empty");
    // The root is where every upload stays: a path that climbs out of itself is refused.
    if (remotePath.split('/').includes('..')) throw new ConfigError("the remote path may not contain '..'");
    if (host.startsWith('-') || user?.startsWith('-'))
      throw new ConfigError('a host or user may not start with -');
    return { kind: 'rsync', user: user ?? null, host, path: remotePath, spec };
  }
  return { kind: 'local', path: path.resolve(spec) };
}

/** The parsed target with what an rsync one needs to reach its host. */
export function storageTarget(parsed: ParsedStorageTarget, ssh: SshSettings): StorageTarget {
  return parsed.kind === 'local' ? parsed : { ...parsed, ssh };
}

/**
 * Stores the files at the target: `<root>/<YYYY>/<MM>/<DD>/<id>.opus`, in a local folder or over
 * rsync+ssh. Either way, when this returns every file is in place, whole and checked.
 */
export async function uploadToTarget(
  target: StorageTarget,
  date: string,
  files: UploadFile[],
  options: ReplaceOptions & { onFile?: (done: number) => void } = {},
): Promise<UploadedFile[]> {
  if (target.kind === 'local') return uploadToLocal(target.path, date, files, options);
  return uploadWithRsync(target, date, files, options);
}
