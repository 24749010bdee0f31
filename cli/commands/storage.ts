import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { errorMessage } from '../../lib/errors.ts';
import { testRsyncConnection, type RsyncTarget } from '../../lib/storage/rsync.ts';
import { authorizedKeysLines, ensureKeyPair } from '../../lib/storage/setup-keys.ts';
import { parseStorageTarget } from '../../lib/storage/target.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';

/** `storage setup-keys`: the key pair and authorized_keys line an rsync STORAGE_TARGET needs. */
export function registerStorageCommands(program: Command, ctx: CliContext): void {
  const storage = program.command('storage').description('Where Opus files go (STORAGE_TARGET).');
  storage
    .command('setup-keys')
    .description(
      'Create the ssh key pair for an rsync target if needed, print the public key and the authorized_keys ' +
        'line for the host (rsync-only), then test the connection as uploads make it.',
    )
    .option('--target <user@host:/path>', 'the rsync target (default $STORAGE_TARGET)')
    .option('--key <file>', 'private key file (default $STORAGE_SSH_KEY or ~/.ssh/audio-pipeline_ed25519)')
    .action(async (opts: { target?: string; key?: string }) => {
      const config = ctx.loadConfig();
      const parsed = opts.target === undefined ? config.storageTarget : parseStorageTarget(opts.target);
      if (parsed.kind !== 'rsync')
        throw new CliError('give --target user@host:/path (or set STORAGE_TARGET to one)', EXIT.usage);
      const keyFile = path.resolve(
        opts.key ?? config.storageSsh.keyFile ?? path.join(os.homedir(), '.ssh', 'audio-pipeline_ed25519'),
      );
      const target: RsyncTarget = { ...parsed, ssh: { ...config.storageSsh, keyFile } };
      const { publicKey, created } = await ensureKeyPair(keyFile);
      const lines = authorizedKeysLines(target, publicKey);
      const out = (s: string) => process.stdout.write(`${s}\n`);
      out(`${created ? 'created' : 'using'} key ${keyFile}`);
      out(`public key:\n  ${publicKey}`);
      out(
        `on ${target.host}, append to ~${target.user ?? ''}/.ssh/authorized_keys (rsync into ${target.path} only):`,
      );
      out(`  ${lines.rrsync}`);
      out(
        `  and set STORAGE_TARGET=${target.user ? `${target.user}@` : ''}${target.host}:/ (rrsync roots paths at ${target.path})`,
      );
      out(`or, without the rsync-only restriction (STORAGE_TARGET=${target.spec}):`);
      out(`  ${lines.plain}`);
      out(
        `the host key must be in ${target.ssh.knownHosts}: ssh-keyscan -p ${target.ssh.port} ${target.host} (check its fingerprint)`,
      );
      out(`then: STORAGE_SSH_KEY=${keyFile}`);
      try {
        await testRsyncConnection(target);
      } catch (err) {
        throw new CliError(`connection test: ${errorMessage(err)}`);
      }
      out(`connection test: ok (${target.spec}, port ${target.ssh.port})`);
    });
}
