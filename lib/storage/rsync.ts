import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BadInputError, ConfigError } from '../errors.ts';
import type { UploadedFile, UploadFile } from './local.ts';
import { storagePath } from './local.ts';

/** How this process reaches an rsync target over ssh (STORAGE_SSH_KEY, _PORT, STORAGE_KNOWN_HOSTS). */
export interface SshSettings {
  /** Private key file; unset: ssh's own default identities. */
  keyFile?: string;
  port: number;
  /** Host keys are always checked against this file (StrictHostKeyChecking yes). */
  knownHosts: string;
  /** rsync's I/O timeout and the bound on connecting: no upload hangs on a dead link. */
  timeoutS: number;
}

export interface RsyncTarget {
  kind: 'rsync';
  user: string | null;
  host: string;
  /** Absolute path of the storage root on the host. */
  path: string;
  spec: string;
  ssh: SshSettings;
}

/** A failure worth retrying (network down, sshd restarting, a timeout): plain Error, retried. */
export class RsyncTransientError extends Error {
  override readonly name = 'RsyncTransientError';
}

/**
 * Uploads one archive's Opus files to `<root>/<YYYY>/<MM>/<DD>/<id>.opus` on the host in ONE
 * rsync run over ssh (`--files-from`), then verifies them with a checksum dry run:
 * - rsync writes each file under a temp name in its folder and renames it into place, so a
 *   reader never sees half a file; an interrupted file is kept in `.rsync-partial/` next to it
 *   and the next run resumes from it (`--partial-dir`);
 * - `--checksum` skips files the host already has byte for byte (a re-upload sends nothing);
 * - host keys are always checked, ssh never prompts (BatchMode), and connect and I/O timeouts
 *   bound the run; the key is a file named in argv, never a password;
 * - the relative paths come from storagePath (a safe clip id, a calendar date), so nothing is
 *   written outside the root.
 * Errors: a refused key, an unknown host key or a missing remote rsync are ConfigError (no retry
 * helps); an unreachable host, a timeout or a dropped connection are RsyncTransientError.
 */
export async function uploadWithRsync(
  target: RsyncTarget,
  date: string,
  files: UploadFile[],
  options: { signal?: AbortSignal; onFile?: (done: number) => void } = {},
): Promise<UploadedFile[]> {
  if (files.length === 0) return [];
  await checkSshFiles(target.ssh);
  const tree = await mkdtemp(path.join(os.tmpdir(), 'rsync-upload-'));
  try {
    const relative: string[] = [];
    const bytes = new Map<string, number>();
    for (const file of files) {
      const rel = storagePath('', date, file.id);
      const s = await stat(file.path).catch(() => null);
      if (!s?.isFile()) throw new BadInputError('no such file to upload', file.path);
      await mkdir(path.join(tree, path.dirname(rel)), { recursive: true });
      await symlink(path.resolve(file.path), path.join(tree, rel));
      relative.push(rel);
      bytes.set(rel, s.size);
    }
    const list = path.join(tree, '.files-from');
    await writeFile(list, relative.join('\n') + '\n');

    // `%i %n` lines: `<f+++++++++ 2024/01/15/<id>.opus` is a file whose data went (or, in the dry
    // run, would go) to the host; `.f..t......` only an attribute fixed, its data already there.
    const dataLine = /^[<>]f\S*\s(.+)$/;
    const sent = new Set<string>();
    await runRsync(target, [...transferOptions(list), '--out-format=%i %n'], tree, options.signal, (line) => {
      const m = dataLine.exec(line);
      if (m && bytes.has(m[1])) {
        sent.add(m[1]);
        options.onFile?.(sent.size);
      }
    });
    // Verify: a checksum dry run lists every file whose remote copy differs; there must be none.
    const differ: string[] = [];
    await runRsync(
      target,
      [...transferOptions(list), '--dry-run', '--out-format=%i %n'],
      tree,
      options.signal,
      (line) => {
        const m = dataLine.exec(line);
        if (m && bytes.has(m[1])) differ.push(m[1]);
      },
    );
    if (differ.length > 0) {
      throw new RsyncTransientError(
        `${target.spec}: ${differ.length} file(s) differ after upload (${differ.slice(0, 3).join(', ')})`,
      );
    }
    return files.map((file, i) => ({
      id: file.id,
      uri: rsyncUri(target, relative[i]),
      bytes: bytes.get(relative[i])!,
      skipped: !sent.has(relative[i]),
    }));
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

/**
 * `ssh://[user@]host[:port]/root/YYYY/MM/DD/id.opus`: where the copy is, as a URI. A root
 * relative to the login's home (`host:opus`) is written `/~/opus/…`, as sftp URLs do.
 */
export function rsyncUri(target: RsyncTarget, relative: string): string {
  const user = target.user ? `${encodeURIComponent(target.user)}@` : '';
  const port = target.ssh.port === 22 ? '' : `:${target.ssh.port}`;
  const root = target.path.startsWith('/') ? target.path : `/~/${target.path}`;
  const file = path.posix.join(root, relative).split('/').map(encodeURIComponent).join('/');
  return `ssh://${user}${target.host}${port}${file}`;
}

/** The ssh command rsync runs (`-e`): key, port, host-key checking, no prompts, timeouts. */
export function sshCommand(ssh: SshSettings): string[] {
  return [
    'ssh',
    '-p',
    String(ssh.port),
    ...(ssh.keyFile ? ['-i', ssh.keyFile, '-o', 'IdentitiesOnly=yes'] : []),
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${ssh.knownHosts}`,
    '-o',
    `ConnectTimeout=${Math.min(ssh.timeoutS, 30)}`,
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ServerAliveCountMax=4',
  ];
}

function transferOptions(filesFrom: string): string[] {
  return [
    '--files-from',
    filesFrom,
    '--copy-links', // the tree holds symlinks to the staged files: send their contents
    '--checksum',
    '--partial-dir=.rsync-partial',
    '--chmod=F644,D755',
    '--perms',
    '--times',
  ];
}

function remoteShell(ssh: SshSettings): string {
  // rsync splits -e on spaces; paths with spaces or quotes are quoted for its parser.
  return sshCommand(ssh)
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))
    .join(' ');
}

async function checkSshFiles(ssh: SshSettings): Promise<void> {
  for (const [setting, file] of [
    ['STORAGE_SSH_KEY', ssh.keyFile],
    ['STORAGE_KNOWN_HOSTS', ssh.knownHosts],
  ] as const) {
    if (file === undefined) continue;
    const s = await stat(file).catch(() => null);
    if (!s?.isFile()) throw new ConfigError(`${setting}=${file}: no such file`);
  }
}

function destination(target: RsyncTarget): string {
  const user = target.user ? `${target.user}@` : '';
  return `${user}${target.host}:${target.path.endsWith('/') ? target.path : `${target.path}/`}`;
}

/**
 * Checks that the target can be reached and written to the way uploads will: ssh with the same
 * options, rsync on the host, the root listed (`--list-only`). Throws what an upload would.
 */
export async function testRsyncConnection(target: RsyncTarget, signal?: AbortSignal): Promise<void> {
  await checkSshFiles(target.ssh);
  await runRsync(target, ['--list-only', '--dirs'], null, signal, () => undefined);
}

/** Runs rsync from `cwd` to the target, line by line on stdout; the exit status is classified. */
async function runRsync(
  target: RsyncTarget,
  args: string[],
  /** The tree to send from; null: only list the target. */
  cwd: string | null,
  signal: AbortSignal | undefined,
  onLine: (line: string) => void,
): Promise<void> {
  signal?.throwIfAborted();
  const endpoints = cwd === null ? [destination(target)] : ['.', destination(target)];
  const argv = [
    '--timeout',
    String(target.ssh.timeoutS),
    '-e',
    remoteShell(target.ssh),
    ...args,
    ...endpoints,
  ];
  const child = spawn('rsync', argv, { cwd: cwd ?? undefined, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 16_384) stderr += chunk;
  });
  const abort = () => child.kill('SIGTERM');
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const code = await new Promise<number | NodeJS.Signals>((resolve, reject) => {
      child.on('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'ENOENT'
            ? new ConfigError('rsync is not installed on this machine (Debian: apt-get install rsync)')
            : err,
        ),
      );
      child.on('close', (status, sig) => resolve(status ?? sig ?? 'SIGKILL'));
    });
    if (pending) onLine(pending);
    signal?.throwIfAborted();
    if (code !== 0) throw classifyRsyncFailure(target, code, stderr);
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

/**
 * What a failed rsync run means for a retry. ssh's messages say more than rsync's exit codes
 * (a refused key and a refused connection both end in 255 or 12), so they are read first.
 */
export function classifyRsyncFailure(
  target: RsyncTarget,
  code: number | NodeJS.Signals,
  stderr: string,
): Error {
  const detail = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 4)
    .join('; ');
  const what = `rsync to ${target.spec} (port ${target.ssh.port}) failed (exit ${code}): ${detail || 'no message'}`;
  const config: [RegExp, string][] = [
    [
      /Permission denied \((publickey|password|keyboard-interactive|hostbased|gssapi)|Too many authentication failures/,
      'the host refused the ssh key: check STORAGE_SSH_KEY and the authorized_keys line (`audio-pipeline storage setup-keys`)',
    ],
    [
      /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \w+ host key is known/,
      'the host key is not in STORAGE_KNOWN_HOSTS (or changed): add it with ssh-keyscan after checking its fingerprint',
    ],
    [/rsync: (command )?not found|rsync: No such file or directory/, 'rsync is not installed on the host'],
    [
      /has been disabled on this server|rrsync error/,
      "the host's rsync restriction (rrsync, command=) refuses what this upload needs",
    ],
    [
      /Load key .*: (invalid format|bad permissions|error in libcrypto)|UNPROTECTED PRIVATE KEY/,
      'STORAGE_SSH_KEY cannot be used as a private key',
    ],
    [
      /mkdir .* failed: (Permission denied|No such file or directory)|change_dir#?\d? .* failed: No such file or directory|failed: Permission denied \(13\)/,
      'the storage root is missing or not writable on the host',
    ],
  ];
  for (const [pattern, why] of config) if (pattern.test(stderr)) return new ConfigError(`${what} — ${why}`);
  if (code === 1 || code === 2 || code === 4)
    return new ConfigError(`${what} — rsync refused the options (old rsync on either side?)`);
  return new RsyncTransientError(what);
}
