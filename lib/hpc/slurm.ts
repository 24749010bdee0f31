/**
 * The SLURM commands the pipeline uses (sbatch, squeue, scontrol, scancel), run without a shell,
 * each with a time limit, with their output parsed here. Settings reach jobs through the
 * environment (sbatch's default --export=ALL), never through argv.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../errors.ts';
import { parseSlurmEndTime } from './walltime.ts';

const run = promisify(execFile);
const COMMAND_TIMEOUT_MS = 30_000;

export class SlurmError extends Error {
  override name = 'SlurmError';
}

async function slurm(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: COMMAND_TIMEOUT_MS, env, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    // No SLURM here: a setting (where this runs) that retrying will not fix.
    if (e.code === 'ENOENT')
      throw new ConfigError(`${command} not found: is this a SLURM login or compute node?`);
    const why = e.killed
      ? `timed out after ${COMMAND_TIMEOUT_MS / 1000} s`
      : (e.stderr?.trim() || e.message).slice(0, 500);
    throw new SlurmError(`${command} ${args[0] ?? ''}: ${why}`);
  }
}

/**
 * A running job's end time: from `squeue -o %e`, else from `scontrol show job` (squeue may be
 * restricted on some clusters). Undefined for a job without a time limit.
 */
export async function readJobEndTime(jobId: string): Promise<Date | undefined> {
  try {
    return parseSlurmEndTime(await slurm('squeue', ['-h', '-j', jobId, '-o', '%e']));
  } catch {
    return parseSlurmEndTime(await slurm('scontrol', ['show', 'job', jobId]));
  }
}

export interface SlurmJob {
  id: string;
  name: string;
  state: string;
  /** Node list, or the pending reason in parentheses. */
  nodes: string;
  elapsed: string;
  timeLeft: string;
}

const SQUEUE_FORMAT = '%i|%j|%T|%R|%M|%L';

/**
 * The user's jobs whose name starts with `namePrefix`, in any state squeue still knows (finished
 * ones stay for the cluster's MinJobAge, 5 minutes by default): filter with isLive() for those
 * holding or waiting for an allocation.
 */
export async function listJobs(namePrefix: string): Promise<SlurmJob[]> {
  const out = await slurm('squeue', ['-h', '--me', '-t', 'all', '-o', SQUEUE_FORMAT]);
  return parseSqueue(out).filter((job) => job.name.startsWith(namePrefix));
}

export function parseSqueue(out: string): SlurmJob[] {
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, name, state, nodes, elapsed, timeLeft] = line.split('|');
      return { id, name, state, nodes, elapsed, timeLeft };
    });
}

/** Jobs that hold or will hold an allocation: what counts against MAX_GPU_JOBS. */
export function isLive(job: SlurmJob): boolean {
  return ['PENDING', 'CONFIGURING', 'RUNNING', 'RESIZING', 'SUSPENDED', 'REQUEUED'].includes(job.state);
}

export interface SubmitOptions {
  script: string;
  jobName: string;
  partition?: string;
  /** sbatch --time, e.g. 04:00:00; unset = the script's own. */
  time?: string;
  /** sbatch --gres, e.g. gpu:a100:1 or none; unset = the script's own (gpu:1). */
  gres?: string;
  /** Seconds before the time limit that SLURM sends SIGTERM (--signal=B:TERM@N); unset = the script's own. */
  signalLeadS?: number;
  /** sbatch --output; unset = the script's own. */
  output?: string;
  /** The job's environment (settings; secrets belong here or in an env file, never in argv). */
  env?: NodeJS.ProcessEnv;
}

/** `sbatch --parsable`; returns the job id. */
export async function submitJob(opts: SubmitOptions): Promise<string> {
  const args = ['--parsable', `--job-name=${opts.jobName}`];
  if (opts.partition) args.push(`--partition=${opts.partition}`);
  if (opts.time) args.push(`--time=${opts.time}`);
  if (opts.gres) args.push(`--gres=${opts.gres}`);
  if (opts.signalLeadS !== undefined) args.push(`--signal=B:TERM@${opts.signalLeadS}`);
  if (opts.output) {
    // SLURM cannot create the log's folder: a job whose --output folder is missing fails at once.
    await mkdir(path.dirname(opts.output), { recursive: true });
    args.push(`--output=${opts.output}`);
  }
  args.push(opts.script);
  const out = (await slurm('sbatch', args, opts.env)).trim();
  const id = /^(\d+)(;\S+)?$/.exec(out)?.[1];
  if (!id) throw new SlurmError(`sbatch: unexpected answer ${JSON.stringify(out.slice(0, 200))}`);
  return id;
}

export async function cancelJob(jobId: string, signal?: string): Promise<void> {
  await slurm('scancel', signal ? [`--signal=${signal}`, jobId] : [jobId]);
}
