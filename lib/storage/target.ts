import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import { uploadToLocal, type UploadedFile, type UploadFile } from './local.ts';

/**
 * STORAGE_TARGET (DESIGN.md §5): a local folder, or `[user@]host:/path` for rsync over ssh.
 * As rsync does, a colon before the first slash means a remote host; `file://` URLs and paths
 * (absolute or relative, `./a:b` included) are local.
 */
export type StorageTarget =
  | { kind: 'local'; path: string }
  | { kind: 'rsync'; user: string | null; host: string; path: string; spec: string };

export function parseStorageTarget(value: string): StorageTarget {
  const spec = value.trim();
  if (spec === '') throw new ConfigError('STORAGE_TARGET is empty: expected a folder or user@host:/path');
  if (spec.startsWith('file://')) return { kind: 'local', path: fileURLToPath(spec) };
  if (spec.startsWith('rsync://')) {
    throw new ConfigError(
      `STORAGE_TARGET=${JSON.stringify(spec)}: rsync daemon URLs are not supported, use user@host:/path (rsync over ssh)`,
    );
  }
  const remote = /^(?:([^@/:\s]+)@)?([^@/:\s]+|\[[0-9A-Fa-f:.]+\]):(.*)$/.exec(spec);
  if (remote) {
    const [, user, host, remotePath] = remote;
    if (remotePath === '')
      throw new ConfigError(`STORAGE_TARGET=${JSON.stringify(spec)}: the remote path after ':' is empty`);
    return { kind: 'rsync', user: user ?? null, host, path: remotePath, spec };
  }
  return { kind: 'local', path: path.resolve(spec) };
}

/** Stores the files at the target: `<root>/<YYYY>/<MM>/<DD>/<id>.opus`. */
export async function uploadToTarget(
  target: StorageTarget,
  date: string,
  files: UploadFile[],
): Promise<UploadedFile[]> {
  if (target.kind === 'local') return uploadToLocal(target.path, date, files);
  // Not a retryable condition: a setting this version cannot serve.
  throw new ConfigError(
    `STORAGE_TARGET=${target.spec}: uploading over rsync is not implemented yet in this version; set STORAGE_TARGET to a local folder or UPLOAD=off`,
  );
}
