/** Process inspection for the fault-injection tests (Linux /proc). */
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';

/** `/proc/<pid>/stat` fields after the command name: state is [0], ppid is [1]. */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** Descendants of `pid` (children, grandchildren, …) whose command name is `comm`, or all. */
export async function childPids(pid: number, comm?: string): Promise<number[]> {
  const table: { pid: number; ppid: number; comm: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const text = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => null);
    if (!text) continue;
    table.push({
      pid: Number(name),
      ppid: Number(statFields(text)[1]),
      comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
    });
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const p of table.filter((t) => t.ppid === parent)) {
      if (!comm || p.comm === comm) found.push(p.pid);
      walk(p.pid);
    }
  };
  walk(pid);
  return found;
}

/** true while `pid` exists and is not a zombie (an orphan's zombie may wait for a reaper). */
export function isRunning(pid: number): boolean {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Polls `probe` until it returns a value (not undefined): waits on an observable condition — a
 * file written, a heartbeat recorded — rather than sleeping a guessed time.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 90_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
