/**
 * A lock file holding the pid of its holder, for work that two processes must not do at once on
 * the same folder (starting the embedded PostgreSQL, fetching a model into the cache). A lock
 * whose holder is gone (crash, SIGKILL) is taken over rather than waited on forever.
 */
import fs from 'node:fs/promises';

/** True while `pid` names a live process (EPERM: alive, but someone else's). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface PidLockOptions {
  /** Give up waiting for a live holder after this long. */
  timeoutMs: number;
  /** How often to look again while a live process holds the lock; default 200 ms. */
  pollMs?: number;
  /** Called once, when the lock is found held by a live process. */
  onWait?: (holderPid: number) => void;
}

/** Runs `fn` holding `lockFile` (created exclusively with our pid), then removes it. */
export async function withPidLock<T>(
  lockFile: string,
  options: PidLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let announced = false;
  for (;;) {
    try {
      await fs.writeFile(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const text = await fs.readFile(lockFile, 'utf8').catch(() => undefined);
      if (text === undefined) continue; // released between our write and our read
      const holder = Number.parseInt(text, 10);
      if (text === '' ? await olderThan(lockFile, 5000) : !isProcessAlive(holder)) {
        await fs.rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${lockFile} (held by pid ${holder})`,
        );
      if (!announced && text !== '') {
        announced = true;
        options.onWait?.(holder);
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { force: true });
  }
}

/** An empty lock file is a holder between its create and its write — or one that died right there. */
async function olderThan(file: string, ms: number): Promise<boolean> {
  const stat = await fs.stat(file).catch(() => undefined);
  return stat !== undefined && Date.now() - stat.mtimeMs > ms;
}
