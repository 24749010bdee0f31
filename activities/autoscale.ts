import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { gpuJobPrefix, jobsToSubmit, type GpuDemand } from '../lib/hpc/autoscale.ts';
import { APP_DIR, gpuJobEnvironment } from '../lib/hpc/job-environment.ts';
import { isLive, listJobs, submitJob } from '../lib/hpc/slurm.ts';
import type { ActivityContext } from './context.ts';
import { runStage } from './run-stage.ts';

export const GPU_WORKER_SCRIPT = path.join(APP_DIR, 'slurm', 'gpu-worker.sbatch');

export interface ScaleRound extends GpuDemand {
  live: number;
  submitted: Array<{ name: string; jobId: string }>;
}

export function createAutoscale(ctx: ActivityContext) {
  const { config, logger } = ctx;
  return {
    /**
     * One autoscaling round: counts the transcribe work waiting or running, counts this
     * deployment's GPU jobs pending or running in SLURM, and submits the difference (at most
     * `maxJobs` in all) through slurm/gpu-worker.sbatch. Safe to retry: the jobs a previous
     * attempt submitted are live in squeue and count as supplied.
     */
    async scaleGpuJobs(input: { maxJobs?: number } = {}): Promise<ScaleRound> {
      return runStage(async () => {
        const maxJobs = input.maxJobs ?? config.pilot.maxGpuJobs;
        const demand = await transcribeDemand(Context.current().client);
        const prefix = gpuJobPrefix(config.temporal.gpuTaskQueue);
        const live = (await listJobs(prefix)).filter(isLive);
        const submitted: ScaleRound['submitted'] = [];
        for (const name of jobsToSubmit(demand, live, maxJobs, prefix)) {
          const jobId = await submitJob({
            script: GPU_WORKER_SCRIPT,
            jobName: name,
            output: path.join(config.dataDir, 'slurm', 'logs', '%x-%j.log'),
            env: gpuJobEnvironment(config),
          });
          submitted.push({ name, jobId });
        }
        const round = { ...demand, live: live.length, submitted };
        logger.info({ ...round, maxJobs }, 'autoscale: gpu jobs');
        return round;
      });
    },
  };
}

/** Pending activity states (temporal.api.enums.v1.PendingActivityState). */
const SCHEDULED = 1;
const STARTED = 2;

/**
 * The transcribe activities of the running archive workflows: waiting (scheduled, or backing off
 * before a retry) and running. Read from the workflows themselves rather than the task queue's
 * approximate backlog, so that a count right after a submission is exact.
 */
async function transcribeDemand(client: Client): Promise<GpuDemand> {
  const demand: GpuDemand = { waiting: 0, running: 0 };
  const query = `WorkflowType = 'processArchive' AND ExecutionStatus = 'Running'`;
  for await (const execution of client.workflow.list({ query })) {
    const described = await client.workflow.getHandle(execution.workflowId, execution.runId).describe();
    for (const pending of described.raw.pendingActivities ?? []) {
      if (pending.activityType?.name !== 'transcribeClips') continue;
      const state = Number(pending.state);
      if (state === SCHEDULED) demand.waiting++;
      else if (state === STARTED) demand.running++;
    }
  }
  return demand;
}
