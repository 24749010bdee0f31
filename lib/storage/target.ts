import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import type { ReplaceOptions } from '../atomic-file.ts';
import { uploadToLocal, type UploadedFile, type UploadFile } from './local.ts';

/**
 * STORAGE_TARGET (DESIGN.md §5): a local folder, or `[user@]host:/path` for rsync over ssh.
 * As rsync does, a colon before the first slash means a remote host; `file://` URLs and paths
 * (absolute or relative, `./a:b` included) are local.
 */
export type LocalStorageTarget = { kind: 'local'; path: string };
export type StorageTarget =
  LocalStorageTarget | { kind: 'rsync'; user: string | null; host: string; path: string; spec: string };

/** Errors name no variable: lib/config.ts prefixes them with `STORAGE_TARGET=<value>`. */

export function parseStorageTarget(value: string): StorageTarget {
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
    return { kind: 'rsync', user: user ?? null, host, path: remotePath, spec };
  }
  return { kind: 'local', path: path.resolve(spec) };
}

/**
 * The target as this version can serve it: a local folder. rsync over ssh is parsed (so that the
 * error says what was meant) but not implemented yet: a ConfigError, which lib/config.ts raises
 * at start-up and an activity turns into a non-retryable failure.
 */
export function localStorageTarget(target: StorageTarget): LocalStorageTarget {
  if (target.kind === 'local') return target;
  throw new ConfigError(
    `uploading over rsync (${target.spec}) is not implemented yet in this version; use a local folder`,
  );
}

/** Stores the files at the target: `<root>/<YYYY>/<MM>/<DD>/<id>.opus`. */
export async function uploadToTarget(
  target: StorageTarget,
  date: string,
  files: UploadFile[],
  options: ReplaceOptions = {},
): Promise<UploadedFile[]> {
  return uploadToLocal(localStorageTarget(target).path, date, files, options);
}
