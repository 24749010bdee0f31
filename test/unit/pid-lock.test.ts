import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { isProcessAlive, withPidLock } from '../../lib/pid-lock.ts';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pid-lock-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

test('the lock holds our pid while fn runs and is gone after, also when fn throws', async () => {
  const lock = path.join(dir, 'a.lock');
  await withPidLock(lock, { timeoutMs: 1000 }, async () => {
    assert.equal(await fs.readFile(lock, 'utf8'), String(process.pid));
  });
  await assert.rejects(fs.access(lock));
  await assert.rejects(
    withPidLock(lock, { timeoutMs: 1000 }, async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  await assert.rejects(fs.access(lock));
});

test('a lock left by a dead process is taken over at once', async () => {
  const lock = path.join(dir, 'stale.lock');
  const pid = await deadPid();
  assert.equal(isProcessAlive(pid), false);
  await fs.writeFile(lock, String(pid));
  const started = Date.now();
  assert.equal(await withPidLock(lock, { timeoutMs: 5000 }, async () => 'ran'), 'ran');
  assert.ok(Date.now() - started < 1000);
});

test('a live holder is waited for (onWait names it) and then the lock is ours', async () => {
  const lock = path.join(dir, 'live.lock');
  const waits: number[] = [];
  const order: string[] = [];
  let release!: () => void;
  const first = withPidLock(lock, { timeoutMs: 5000 }, async () => {
    order.push('first');
    await new Promise<void>((r) => (release = r));
  });
  await new Promise((r) => setTimeout(r, 50));
  const second = withPidLock(
    lock,
    { timeoutMs: 5000, pollMs: 20, onWait: (p) => waits.push(p) },
    async () => {
      order.push('second');
    },
  );
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(order, ['first']);
  release();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['first', 'second']);
  assert.deepEqual(waits, [process.pid]);
});

test('waiting for a live holder times out with the lock file and the holder in the message', async () => {
  const lock = path.join(dir, 'held.lock');
  await fs.writeFile(lock, String(process.ppid));
  await assert.rejects(
    withPidLock(lock, { timeoutMs: 100, pollMs: 20 }, async () => {}),
    new RegExp(`held\\.lock \\(held by pid ${process.ppid}\\)`),
  );
});
