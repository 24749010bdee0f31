/**
 * A real OpenSSH server for the rsync tests (DESIGN.md §7: no mocks where the real thing runs
 * here): Debian's /usr/sbin/sshd on 127.0.0.1 on a free port, with a host key, a client key in
 * authorized_keys and a known_hosts file all generated in a temp folder. Logs in as the user
 * running the tests (root in CI). A missing sshd FAILS the test (`.ci/system-packages.sh`
 * installs openssh-server and rsync).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../local/embedded-postgres.ts';

const execFileAsync = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  dir: string;
  port: number;
  user: string;
  /** The key authorized_keys accepts, and one it does not. */
  clientKey: string;
  wrongKey: string;
  /** A key authorized only for rsync into `restrictedRoot` (`restrict,command="rrsync <root>"`). */
  restrictedKey: string;
  restrictedRoot: string;
  /** known_hosts naming this server's host key. */
  knownHosts: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function keygen(file: string): Promise<string> {
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rsync-test', '-f', file]);
  return (await readFile(`${file}.pub`, 'utf8')).trim();
}

/** Resolves once something accepts connections on the port (sshd is listening). */
async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTestSshd(): Promise<TestSshd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sshd-test-'));
  // sshd refuses to start without its privilege separation folder (Debian ships it via systemd).
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => undefined);
  const hostKey = path.join(dir, 'host_ed25519');
  const hostPub = await keygen(hostKey);
  const clientKey = path.join(dir, 'client_ed25519');
  const wrongKey = path.join(dir, 'wrong_ed25519');
  const authorized = path.join(dir, 'authorized_keys');
  const restrictedKey = path.join(dir, 'restricted_ed25519');
  const restrictedRoot = path.join(dir, 'restricted-root');
  await mkdir(restrictedRoot);
  await writeFile(
    authorized,
    `${await keygen(clientKey)}\nrestrict,command="/usr/bin/rrsync ${restrictedRoot}" ${await keygen(restrictedKey)}\n`,
  );
  await keygen(wrongKey);
  await chmod(authorized, 0o600);
  const port = await freePort();
  const knownHosts = path.join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no', // the temp folder's modes are not a home directory's
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let log = '';
  const start = async () => {
    log = '';
    const c = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-4000)));
    c.on('error', (err) => (log += String(err)));
    child = c;
    await waitForPort(port, c, () => log);
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    dir,
    port,
    user: os.userInfo().username,
    clientKey,
    wrongKey,
    restrictedKey,
    restrictedRoot,
    knownHosts,
    start,
    stop,
    async close() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
