/**
 * Uploading over rsync+ssh against a real sshd (test/support/sshd.ts) and real rsync: the layout
 * and contents, a re-upload that sends nothing, an interrupted upload resumed, and the failures a
 * cluster user meets — sshd down (retryable), a key the host refuses and an unknown host key
 * (ConfigError, clear message).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../lib/errors.ts';
import { RsyncTransientError, uploadWithRsync, type RsyncTarget } from '../../lib/storage/rsync.ts';
import { freePort } from '../../local/embedded-postgres.ts';
import { startTestSshd, type TestSshd } from '../support/sshd.ts';
import { spawn } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../bin/audio-pipeline.js', import.meta.url));

/** Runs the CLI with only the given settings (plus PATH and HOME); resolves with its exit and output. */
function cli(
  args: string[],
  settings: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: tmp, DATA_DIR: path.join(tmp, 'data'), ...settings },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

let sshd: TestSshd;
let tmp: string;
let root: string;
const files: { id: string; path: string }[] = [];

function target(overrides: Partial<RsyncTarget['ssh']> = {}, rootPath = root): RsyncTarget {
  return {
    kind: 'rsync',
    user: sshd.user,
    host: '127.0.0.1',
    path: rootPath,
    spec: `${sshd.user}@127.0.0.1:${rootPath}`,
    ssh: {
      keyFile: sshd.clientKey,
      port: sshd.port,
      knownHosts: sshd.knownHosts,
      timeoutS: 20,
      ...overrides,
    },
  };
}

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (!entry.isDirectory()) out.push(path.relative(dir, path.join(entry.parentPath, entry.name)));
  return out.sort();
}

before(async () => {
  sshd = await startTestSshd();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rsync-upload-test-'));
  root = path.join(tmp, 'storage');
  await mkdir(root);
  for (const id of ['7318273645512907014', '7318273645512907015']) {
    const file = path.join(tmp, `${id}.opus`);
    await writeFile(file, randomBytes(20_000 + files.length));
    files.push({ id, path: file });
  }
});

after(async () => {
  await sshd?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('uploadWithRsync against a real sshd', () => {
  test('files land as <root>/YYYY/MM/DD/<id>.opus with their contents and ssh:// URIs', async () => {
    const done: number[] = [];
    const result = await uploadWithRsync(target(), '2024-01-15', files, { onFile: (n) => done.push(n) });
    assert.deepEqual(await tree(root), [
      '2024/01/15/7318273645512907014.opus',
      '2024/01/15/7318273645512907015.opus',
    ]);
    for (const f of files)
      assert.deepEqual(await readFile(path.join(root, '2024/01/15', `${f.id}.opus`)), await readFile(f.path));
    assert.deepEqual(
      result.map((r) => [r.skipped, r.bytes]),
      [
        [false, 20_000],
        [false, 20_001],
      ],
    );
    assert.equal(
      result[0].uri,
      `ssh://${sshd.user}@127.0.0.1:${sshd.port}${root}/2024/01/15/7318273645512907014.opus`,
    );
    assert.deepEqual(done, [1, 2], 'progress per file');
  });

  test('a re-upload sends nothing and leaves the copies untouched', async () => {
    const dest = path.join(root, '2024/01/15/7318273645512907014.opus');
    const before1 = await stat(dest);
    const result = await uploadWithRsync(target(), '2024-01-15', files);
    assert.deepEqual(
      result.map((r) => r.skipped),
      [true, true],
    );
    assert.equal((await stat(dest)).ino, before1.ino, 'not rewritten');
  });

  test('a changed remote copy is replaced: checksums, not sizes and times, decide', async () => {
    const dest = path.join(root, '2024/01/15/7318273645512907015.opus');
    const { mtime } = await stat(dest);
    await writeFile(dest, Buffer.alloc(20_001, 7));
    const { utimes } = await import('node:fs/promises');
    await utimes(dest, mtime, mtime);
    const result = await uploadWithRsync(target(), '2024-01-15', files);
    assert.deepEqual(
      result.map((r) => r.skipped),
      [true, false],
    );
    assert.deepEqual(await readFile(dest), await readFile(files[1].path));
  });

  test('an interrupted upload leaves no file at its name and is resumed by the next run', async () => {
    const big = { id: '7318273645512907099', path: path.join(tmp, 'big.opus') };
    await writeFile(big.path, randomBytes(96 * 1024 * 1024));
    const day = path.join(root, '2024', '02', '01');
    const controller = new AbortController();
    // Abort as soon as rsync has started writing the file (its temp name, beside the target).
    const watcher = setInterval(() => {
      readdir(day)
        .then((names) => {
          if (names.some((n) => n.startsWith('.'))) controller.abort();
        })
        .catch(() => undefined);
    }, 5);
    try {
      await assert.rejects(
        uploadWithRsync(target(), '2024-02-01', [big], { signal: controller.signal }),
        (err: unknown) => controller.signal.aborted && (err as Error).name === 'AbortError',
      );
    } finally {
      clearInterval(watcher);
    }
    // The receiver keeps what it got in .rsync-partial/ once it notices the sender is gone.
    const partial = path.join(day, '.rsync-partial', `${big.id}.opus`);
    const deadline = Date.now() + 10_000;
    while (!(await stat(partial).catch(() => null)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(await stat(partial).catch(() => null), 'partial file kept for resuming');
    assert.equal(await stat(path.join(day, `${big.id}.opus`)).catch(() => null), null, 'nothing at the name');

    const [r] = await uploadWithRsync(target(), '2024-02-01', [big]);
    assert.equal(r.skipped, false);
    assert.deepEqual(await readFile(path.join(day, `${big.id}.opus`)), await readFile(big.path));
    assert.deepEqual(await readdir(day), [`${big.id}.opus`], 'partial folder removed');
  });

  test('a key restricted to rrsync (as the README suggests) uploads into its folder', async () => {
    const restricted = { ...target({ keyFile: sshd.restrictedKey }, '/'), spec: `${sshd.user}@127.0.0.1:/` };
    const result = await uploadWithRsync(restricted, '2024-01-16', files);
    assert.deepEqual(await tree(sshd.restrictedRoot), [
      '2024/01/16/7318273645512907014.opus',
      '2024/01/16/7318273645512907015.opus',
    ]);
    assert.deepEqual(
      result.map((r) => r.skipped),
      [false, false],
    );
    const again = await uploadWithRsync(restricted, '2024-01-16', files);
    assert.deepEqual(
      again.map((r) => r.skipped),
      [true, true],
    );
  });

  test('sshd down: a retryable error, nothing written', async () => {
    await sshd.stop();
    try {
      await assert.rejects(uploadWithRsync(target(), '2024-03-01', files), (err: unknown) => {
        assert.ok(err instanceof RsyncTransientError, String(err));
        assert.match(err.message, /Connection refused/);
        return true;
      });
    } finally {
      await sshd.start();
    }
    const closed = await freePort();
    await assert.rejects(uploadWithRsync(target({ port: closed }), '2024-03-01', files), RsyncTransientError);
    assert.equal(await stat(path.join(root, '2024', '03')).catch(() => null), null);
  });

  test('a key the host refuses is a ConfigError that says so', async () => {
    await assert.rejects(
      uploadWithRsync(target({ keyFile: sshd.wrongKey }), '2024-03-02', files),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, /refused the ssh key/);
        assert.match(err.message, /Permission denied \(publickey/);
        return true;
      },
    );
  });

  test('a host key missing from known_hosts is a ConfigError; a missing key file is named', async () => {
    const empty = path.join(tmp, 'empty_known_hosts');
    await writeFile(empty, '');
    await assert.rejects(
      uploadWithRsync(target({ knownHosts: empty }), '2024-03-02', files),
      (err: unknown) =>
        err instanceof ConfigError && /host key is not in STORAGE_KNOWN_HOSTS/.test(err.message),
    );
    await assert.rejects(
      uploadWithRsync(target({ keyFile: path.join(tmp, 'nope') }), '2024-03-02', files),
      (err: unknown) =>
        err instanceof ConfigError && /STORAGE_SSH_KEY=.*nope: no such file/.test(err.message),
    );
  });

  test('storage setup-keys creates a key, prints the rsync-only authorized_keys line, and tests the connection', async () => {
    const key = path.join(tmp, 'new-key', 'upload_ed25519');
    const settings = { STORAGE_SSH_PORT: String(sshd.port), STORAGE_KNOWN_HOSTS: sshd.knownHosts };
    const target = `${sshd.user}@127.0.0.1:${root}`;
    const first = await cli(['storage', 'setup-keys', '--target', target, '--key', key], settings);
    assert.equal(first.code, 1, first.out);
    assert.match(first.out, new RegExp(`created key ${key}`));
    const publicKey = (await readFile(`${key}.pub`, 'utf8')).trim();
    assert.ok(first.out.includes(`restrict,command="rrsync ${root}" ${publicKey}`), first.out);
    assert.match(first.out, /connection test: .*refused the ssh key/);

    // Authorize it as printed (the plain line: this test's target names the root), then it works.
    await appendFile(path.join(sshd.dir, 'authorized_keys'), `restrict ${publicKey}\n`);
    const second = await cli(['storage', 'setup-keys', '--key', key], {
      ...settings,
      STORAGE_TARGET: target,
    });
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, new RegExp(`using key ${key}`));
    assert.match(second.out, /connection test: ok/);
  });
});
