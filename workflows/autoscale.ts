import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/index.ts';
import type { ScaleRound } from '../activities/autoscale.ts';
import { shortActivity } from './retry-policies.ts';

const { scaleGpuJobs } = proxyActivities<CpuActivities>(shortActivity);

export interface AutoscaleInput {
  /** At most this many GPU jobs pending or running (default MAX_GPU_JOBS of the worker). */
  maxJobs?: number;
  /** Seconds between rounds (default 60). */
  intervalSeconds?: number;
  /** Stop after this many rounds; unset = run until cancelled. */
  rounds?: number;
}

export interface AutoscaleResult {
  rounds: number;
  /** Every job this run submitted, in order: the record of what it asked SLURM for. */
  submitted: ScaleRound['submitted'];
}

/** Rounds per run before continue-as-new, which keeps the history short. */
const ROUNDS_PER_RUN = 200;

/**
 * Keeps enough GPU pilot jobs in SLURM for the transcribe work in sight (activities/autoscale.ts):
 * one round now, then one every `intervalSeconds`. Started by `audio-pipeline slurm autoscale`
 * with the id `autoscale-gpu-<queue>`, so there is one per GPU queue. A date started from the
 * Web UI or the CLI thus brings its own GPU workers; they leave when idle (PILOT_IDLE_EXIT_MIN).
 */
export async function autoscaleGpuWorkers(input: AutoscaleInput = {}): Promise<AutoscaleResult> {
  const submitted: ScaleRound['submitted'] = [];
  const rounds = input.rounds ?? ROUNDS_PER_RUN;
  for (let round = 1; ; round++) {
    const result = await scaleGpuJobs({ maxJobs: input.maxJobs });
    submitted.push(...result.submitted);
    if (round >= rounds) {
      if (input.rounds === undefined) await continueAsNew<typeof autoscaleGpuWorkers>(input);
      return { rounds: round, submitted };
    }
    await sleep((input.intervalSeconds ?? 60) * 1000);
  }
}
