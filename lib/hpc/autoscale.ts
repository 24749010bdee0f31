/**
 * How many GPU pilot jobs to submit for the transcribe work in sight. Knows nothing of Temporal
 * or SLURM's commands: it gets the demand and the live jobs, and names the jobs to submit.
 */
import type { SlurmJob } from './slurm.ts';

export interface GpuDemand {
  /** Transcribe activities waiting for a worker (scheduled, not started). */
  waiting: number;
  /** Transcribe activities a worker is running. */
  running: number;
}

/**
 * One worker serves one archive at a time, so the work in sight needs `waiting + running` jobs,
 * at most `maxJobs`. Jobs already pending or running in SLURM count as supplied: a retried round
 * (an activity retry, a second `autoscale --once`) finds the jobs the first one submitted and adds
 * none. New jobs take the lowest free slot names `<prefix>-<n>`, n < maxJobs, so two rounds that
 * race still cannot both submit the same slot without squeue showing it.
 */
export function jobsToSubmit(demand: GpuDemand, live: SlurmJob[], maxJobs: number, prefix: string): string[] {
  const target = Math.min(maxJobs, demand.waiting + demand.running);
  const missing = target - live.length;
  if (missing <= 0) return [];
  const taken = new Set(live.map((job) => job.name));
  const names: string[] = [];
  for (let slot = 0; slot < maxJobs && names.length < missing; slot++) {
    const name = `${prefix}-${slot}`;
    if (!taken.has(name)) names.push(name);
  }
  return names;
}

/** The job-name prefix of one deployment's GPU workers: one per GPU task queue. */
export function gpuJobPrefix(gpuTaskQueue: string): string {
  return `ap-gpu-${gpuTaskQueue}`;
}
