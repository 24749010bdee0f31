/**
 * The real one-node SLURM cluster of .ci/slurm.sh (munged, slurmctld, slurmd on localhost). A
 * cluster that is not up FAILS the test that needs it, saying how to start it — it never skips.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function requireSlurm(): Promise<void> {
  const states = await run('sinfo', ['-h', '-o', '%T'], { timeout: 10_000 }).then(
    (r) => r.stdout,
    (err: Error) => `sinfo failed: ${err.message}`,
  );
  if (!/^(idle|mixed|allocated)/m.test(states))
    throw new Error(`no usable SLURM cluster (${states.trim()}): run .ci/slurm.sh as root first`);
}

/** `scontrol show job` as key=value pairs (completed jobs stay visible for MinJobAge). */
export async function jobInfo(jobId: string): Promise<Record<string, string>> {
  const { stdout } = await run('scontrol', ['show', 'job', '-o', jobId], { timeout: 10_000 });
  return Object.fromEntries(
    stdout
      .trim()
      .split(/\s+/)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** Waits until the job is in one of `states`; fails with its log after `timeoutMs`. */
export async function waitForJobState(jobId: string, states: string[], timeoutMs: number, log?: string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await jobInfo(jobId);
    if (states.includes(info.JobState)) return info;
    if (Date.now() > deadline) {
      const text = log ? await readFile(log, 'utf8').catch(() => '(no log)') : '';
      throw new Error(`job ${jobId} is ${info.JobState}, not ${states.join('|')}\n${text.slice(-3000)}`);
    }
    await sleep(500);
  }
}

export async function scancel(args: string[]): Promise<void> {
  await run('scancel', args, { timeout: 10_000 });
}
