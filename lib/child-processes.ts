/**
 * The last line of defence against orphans: every process below this one (ffmpeg, pip, the
 * converter, the Temporal dev server), found through /proc, killed synchronously — so it can run
 * in an 'exit' handler, after a forced exit that skipped the orderly stops. The embedded
 * PostgreSQL is not among them (pg_ctl detaches it): its own exit hook stops it.
 * Linux only (/proc); elsewhere it finds nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Pids of every live descendant of `root`, children before grandchildren. */
export function descendantPids(root: number = process.pid): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const ppid = parentOf(pid);
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function parentOf(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined; // exited while we looked
  }
}

/** Sends `signal` to every descendant; returns the pids it was sent to. */
export function killDescendants(signal: NodeJS.Signals = 'SIGKILL'): number[] {
  const pids = descendantPids();
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
  return pids;
}
