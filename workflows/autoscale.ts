import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/index.ts';
import type { AutoscaleInput, AutoscaleResult } from './contract.ts';
import { shortActivity } from './retry-policies.ts';

const { scaleGpuJobs } = proxyActivities<CpuActivities>(shortActivity);

/** Rounds per run before continue-as-new, which keeps the history short. */
const ROUNDS_PER_RUN = 200;

/**
 * Keeps enough GPU pilot jobs in SLURM for the transcribe work in sight (activities/autoscale.ts):
 * one round now, then one every `intervalSeconds`. Started by `audio-pipeline slurm autoscale`
 * with the id autoscaleWorkflowId(<GPU queue>), so there is one per GPU queue. A date started from the
 * Web UI or the CLI thus brings its own GPU workers; they leave when idle (PILOT_IDLE_EXIT_MIN).
 */
export async function autoscaleGpuWorkers(input: AutoscaleInput = {}): Promise<AutoscaleResult> {
  const submitted: AutoscaleResult['submitted'] = [];
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
