import { execFile } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../errors.ts';
import type { RsyncTarget } from './rsync.ts';

const execFileAsync = promisify(execFile);

/**
 * The upload key pair at `keyFile`: created (ed25519, no passphrase: the worker runs unattended;
 * the file is the secret, mode 0600 in a 0700 folder) when it does not exist yet. Returns the
 * public key line and whether it was created.
 */
export async function ensureKeyPair(keyFile: string): Promise<{ publicKey: string; created: boolean }> {
  let created = false;
  if (!(await stat(keyFile).catch(() => null))) {
    await mkdir(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    try {
      await execFileAsync('ssh-keygen', [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        'audio-pipeline',
        '-f',
        keyFile,
      ]);
    } catch (err) {
      throw new ConfigError(`cannot create ${keyFile} with ssh-keygen: ${(err as Error).message}`);
    }
    created = true;
  }
  const pub = await readFile(`${keyFile}.pub`, 'utf8').catch(async () => {
    const { stdout } = await execFileAsync('ssh-keygen', ['-y', '-f', keyFile]);
    return stdout;
  });
  return { publicKey: pub.trim(), created };
}

/**
 * The `authorized_keys` lines for the host: one restricted to rsync into the root (rrsync, which
 * ships with rsync; STORAGE_TARGET's path is then `/`), and one restricted only from forwarding
 * and a terminal (STORAGE_TARGET names the root itself).
 */
export function authorizedKeysLines(
  target: RsyncTarget,
  publicKey: string,
): { rrsync: string; plain: string } {
  const root = target.path.replace(/"/g, '\\"');
  return { rrsync: `restrict,command="rrsync ${root}" ${publicKey}`, plain: `restrict ${publicKey}` };
}
