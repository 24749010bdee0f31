import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { GPU_WORKER_SCRIPT } from '../../activities/autoscale.ts';
import { gpuJobPrefix } from '../../lib/hpc/autoscale.ts';
import { APP_DIR, gpuJobEnvironment } from '../../lib/hpc/job-environment.ts';
import { listJobs, submitJob } from '../../lib/hpc/slurm.ts';
import { inheritedEnv, type Config } from '../../lib/config.ts';
import { pilotStatusFile } from '../../workers/pilot.ts';
import {
  WORKFLOW_TYPES,
  autoscaleWorkflowId,
  type AutoscaleInput,
  type AutoscaleResult,
} from '../../workflows/contract.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT } from '../exit-codes.ts';
import { integerOption } from '../integer-option.ts';

const CPU_WORKER_SCRIPT = path.join(APP_DIR, 'slurm', 'cpu-worker.sbatch');

function cpuJobName(config: Config): string {
  return `ap-cpu-${config.temporal.taskQueue}`;
}

export function registerSlurmCommands(program: Command, ctx: CliContext): void {
  const slurm = program
    .command('slurm')
    .description('Run the workers as SLURM jobs (slurm/*.sbatch): submit, watch, autoscale.');

  slurm
    .command('submit')
    .description(
      'Submit GPU worker jobs (slurm/gpu-worker.sbatch) and CPU worker jobs (slurm/cpu-worker.sbatch). ' +
        'Settings travel in the environment (or AUDIO_PIPELINE_ENV_FILE), never in argv.',
    )
    .option('--gpu <n>', 'GPU worker jobs', integerOption(0), 0)
    .option('--cpu <n>', 'CPU worker jobs', integerOption(0), 0)
    .option('--partition <p>', 'sbatch --partition')
    .option('--time <t>', 'sbatch --time, e.g. 04:00:00 (the workers leave before it ends)')
    .option('--gres <g>', 'sbatch --gres for the GPU jobs, e.g. gpu:a100:1 (default gpu:1)')
    .option(
      '--signal-lead <seconds>',
      'SIGTERM this long before the time limit (default 300)',
      integerOption(0),
    )
    .action(
      async (opts: {
        gpu: number;
        cpu: number;
        partition?: string;
        time?: string;
        gres?: string;
        signalLead?: number;
      }) => {
        const config = ctx.loadConfig();
        const { gpu, cpu } = opts;
        if (gpu + cpu === 0) throw new CliError('nothing to submit: give --gpu N and/or --cpu M', EXIT.usage);
        const output = path.join(config.dataDir, 'slurm', 'logs', '%x-%j.log');
        const common = { partition: opts.partition, time: opts.time, output, signalLeadS: opts.signalLead };
        for (let i = 0; i < gpu; i++) {
          const id = await submitJob({
            ...common,
            script: GPU_WORKER_SCRIPT,
            jobName: `${gpuJobPrefix(config.temporal.gpuTaskQueue)}-manual`,
            gres: opts.gres,
            env: gpuJobEnvironment(config),
          });
          process.stdout.write(`gpu worker job ${id}\n`);
        }
        for (let i = 0; i < cpu; i++) {
          const id = await submitJob({
            ...common,
            script: CPU_WORKER_SCRIPT,
            jobName: cpuJobName(config),
            env: inheritedEnv({ AUDIO_PIPELINE_DIR: APP_DIR }),
          });
          process.stdout.write(`cpu worker job ${id}\n`);
        }
      },
    );

  slurm
    .command('status')
    .description("This deployment's worker jobs in SLURM: state, node, elapsed, time left, tasks done.")
    .option('--json', 'one JSON document')
    .action(async (opts: { json?: boolean }) => {
      const config = ctx.loadConfig();
      const jobs = [
        ...(await listJobs(gpuJobPrefix(config.temporal.gpuTaskQueue))),
        ...(await listJobs(cpuJobName(config))),
      ];
      const rows = await Promise.all(
        jobs.map(async (job) => {
          const pilot = await readFile(pilotStatusFile(config, job.id), 'utf8').then(
            (text) => JSON.parse(text) as { tasks?: number; batches?: number },
            () => undefined,
          );
          return { ...job, tasks: pilot?.tasks ?? null, batches: pilot?.batches ?? null };
        }),
      );
      if (opts.json) return void process.stdout.write(JSON.stringify(rows) + '\n');
      if (rows.length === 0) return void process.stdout.write('no worker jobs in SLURM\n');
      for (const r of rows) {
        process.stdout.write(
          `${r.id.padEnd(10)} ${r.name.padEnd(36)} ${r.state.padEnd(11)} ${r.nodes.padEnd(16)} ` +
            `elapsed ${r.elapsed.padEnd(10)} left ${r.timeLeft.padEnd(10)} tasks ${r.tasks ?? '-'}\n`,
        );
      }
    });

  slurm
    .command('autoscale')
    .description(
      'Start the autoscaler workflow (autoscale-gpu-<queue>): every --interval seconds it submits GPU ' +
        'worker jobs for the transcribe work waiting, up to --max jobs pending or running. Its activities ' +
        'run on the CPU worker, which must be on a host with sbatch.',
    )
    .option('--max <n>', 'at most this many GPU jobs (default MAX_GPU_JOBS)', integerOption())
    .option('--interval <seconds>', 'seconds between rounds', integerOption(), 60)
    .option('--once', 'one round, then print what was submitted')
    .action(async (opts: { max?: number; interval: number; once?: boolean }) => {
      const config = ctx.loadConfig();
      const maxJobs = opts.max ?? config.pilot.maxGpuJobs;
      const intervalSeconds = opts.interval;
      const address = config.temporal.address ?? `127.0.0.1:${config.temporal.port}`;
      const connection = await Connection.connect({ address });
      try {
        const client = new Client({ connection, namespace: config.temporal.namespace });
        const workflowId = autoscaleWorkflowId(config.temporal.gpuTaskQueue, opts.once);
        const input: AutoscaleInput = { maxJobs, intervalSeconds, rounds: opts.once ? 1 : undefined };
        const handle = await client.workflow.start(WORKFLOW_TYPES.autoscale, {
          taskQueue: config.temporal.taskQueue,
          workflowId,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
        });
        if (!opts.once) return void process.stdout.write(`autoscaler running: workflow ${workflowId}\n`);
        const result = (await handle.result()) as AutoscaleResult;
        process.stdout.write(JSON.stringify(result) + '\n');
      } finally {
        await connection.close();
      }
    });
}
