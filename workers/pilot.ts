/**
 * The GPU worker as a pilot job: a SLURM job (slurm/gpu-worker.sbatch) that polls the GPU task
 * queue for as long as its allocation lasts, and leaves cleanly before the end.
 *
 * - Knows when its job ends (SLURM_JOB_END_TIME, else squeue/scontrol) and stops polling once
 *   the time left is below the margin (twice the longest recent batch, or PILOT_MARGIN_S); the
 *   batch loop asks the same question before each batch, so no batch starts that cannot finish.
 * - On SIGTERM (sbatch --signal=B:TERM@lead, or `scancel --signal=TERM`) starts no new batch and
 *   stops polling; the batch in flight finishes within PILOT_GRACE_S, then the activity hands the
 *   rest over (a retryable failure Temporal retries at once elsewhere, resuming from the batches
 *   on disk) and the process exits 0.
 * - Exits after `idleExitMs` without work, so an idle GPU goes back to the cluster.
 * - Loads and warms up the model before polling; logs carry the job id and node.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { NativeConnection } from '@temporalio/worker';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import { readJobEndTime } from '../lib/hpc/slurm.ts';
import { Walltime, type BatchDecision, type BatchGate } from '../lib/hpc/walltime.ts';
import { createGpuWorker, whisperEngineLoader, type EngineLoader } from './gpu-worker.ts';

const WATCH_INTERVAL_MS = 1000;

export interface PilotOptions {
  config: Config;
  logger: Logger;
  connection: NativeConnection;
  taskQueue?: string;
  /** Exit after this long without an activity; unset = never. */
  idleExitMs?: number;
  /** An end time for a worker outside SLURM (`worker --walltime`); SLURM's own wins. */
  endsAt?: Date;
  /** Aborted by the first SIGTERM/SIGINT (cli/signals.ts): drain and exit. */
  stop?: AbortSignal;
}

export interface PilotSummary {
  reason: 'signal' | 'walltime' | 'idle' | 'stopped';
  batches: number;
  tasks: number;
}

/** Where the pilot's progress is kept for `audio-pipeline slurm status`. */
export function pilotStatusFile(config: Config, jobId: string): string {
  return path.join(config.dataDir, 'slurm', 'jobs', `${jobId}.json`);
}

export async function runPilotGpuWorker(opts: PilotOptions): Promise<PilotSummary> {
  const { config } = opts;
  const { jobId, nodeName } = config.slurm;
  const node = nodeName ?? os.hostname();
  const logger = jobId ? opts.logger.child({ slurmJob: jobId, node }) : opts.logger;
  const endsAt = config.slurm.jobEndTime ?? (jobId ? await readJobEndTime(jobId) : undefined) ?? opts.endsAt;
  const walltime = new Walltime({
    endsAt,
    marginMs: config.pilot.marginMs,
    firstBatchMs: config.pilot.firstBatchMs,
  });
  const statusFile = jobId ? pilotStatusFile(config, jobId) : undefined;
  const writeStatus = async (state: string) => {
    if (!statusFile) return;
    await mkdir(path.dirname(statusFile), { recursive: true });
    const status = { jobId, node, state, tasks, batches, endsAt: endsAt?.toISOString() ?? null };
    await writeFileAtomic(statusFile, JSON.stringify(status) + '\n');
  };
  let batches = 0;
  let tasks = 0;
  const gate: BatchGate = {
    mayStartBatch(): BatchDecision {
      const decision = walltime.mayStartBatch();
      if (!decision.start) logger.info({ reason: decision.reason }, 'pilot: starting no new batch');
      return decision;
    },
    recordBatch(ms: number) {
      batches++;
      walltime.recordBatch(ms);
    },
    taskDone() {
      tasks++;
      void writeStatus('polling').catch(() => undefined);
    },
  };

  const loader = whisperEngineLoader({ config, logger });
  try {
    await warmUp(loader, config, logger);
    if (opts.stop?.aborted) {
      logger.info('pilot: signal before polling, exiting');
      return { reason: 'signal', tasks: 0, batches: 0 };
    }
    const first = walltime.mayStartBatch();
    if (!first.start) {
      // Too little time for even one batch: poll nothing, give the allocation back at once.
      logger.info({ reason: first.reason }, 'pilot: near the end of the job, polling stops');
      return { reason: 'walltime', tasks: 0, batches: 0 };
    }
    const gpu = await createGpuWorker({
      config,
      logger,
      connection: opts.connection,
      taskQueue: opts.taskQueue,
      loader,
      batchGate: gate,
      identity: jobId ? `slurm-${jobId}@${node}` : `${process.pid}@${node}`,
      shutdownGraceTimeMs: config.pilot.graceMs,
    });
    logger.info(
      {
        endsAt: endsAt?.toISOString() ?? 'none',
        timeLeftS: Number.isFinite(walltime.timeLeftMs()) ? Math.round(walltime.timeLeftMs() / 1000) : null,
        idleExitS: opts.idleExitMs === undefined ? null : Math.round(opts.idleExitMs / 1000),
        taskQueue: opts.taskQueue ?? config.temporal.gpuTaskQueue,
      },
      'pilot: gpu worker polling',
    );

    let reason: PilotSummary['reason'] = 'stopped';
    let lastBusy = Date.now();
    const stop = (why: PilotSummary['reason'], fields: object, message: string) => {
      if (gpu.worker.getState() !== 'RUNNING') return;
      reason = why;
      logger.info(fields, message);
      gpu.worker.shutdown();
    };
    const onStop = () => {
      const reasonOfStop: unknown = opts.stop?.reason;
      const signal = reasonOfStop instanceof Error && 'signal' in reasonOfStop ? reasonOfStop.signal : 'stop';
      walltime.drain(String(signal));
      reason = 'signal';
      logger.info({ signal, graceS: config.pilot.graceMs / 1000 }, 'pilot: signal, draining');
      if (gpu.worker.getState() === 'RUNNING') gpu.worker.shutdown();
    };
    const watch = setInterval(() => {
      const inFlight = gpu.worker.getStatus().numInFlightActivities > 0;
      if (inFlight) lastBusy = Date.now();
      const decision = walltime.mayStartBatch();
      if (!decision.start && !walltime.draining) {
        stop('walltime', { reason: decision.reason }, 'pilot: near the end of the job, polling stops');
      } else if (!inFlight && opts.idleExitMs !== undefined && Date.now() - lastBusy >= opts.idleExitMs) {
        stop('idle', { idleS: Math.round((Date.now() - lastBusy) / 1000) }, 'pilot: idle, exiting');
      }
    }, WATCH_INTERVAL_MS);
    try {
      const running = gpu.worker.run();
      if (opts.stop?.aborted) onStop();
      else opts.stop?.addEventListener('abort', onStop, { once: true });
      await running;
    } finally {
      clearInterval(watch);
      opts.stop?.removeEventListener('abort', onStop);
    }
    await writeStatus(`exited (${reason})`).catch(() => undefined);
    logger.info({ reason, tasks, batches }, 'pilot: gpu worker stopped');
    return { reason, tasks, batches };
  } finally {
    await loader.close();
  }
}

/**
 * Loads the model and runs it once on a second of silence, so that the first real batch is not
 * slowed by lazy initialisation (CUDA kernels, memory arenas) and a broken device fails here,
 * before the worker takes any task.
 */
async function warmUp(loader: EngineLoader, config: Config, logger: Logger): Promise<void> {
  const started = Date.now();
  const engine = await loader.engine();
  const loadedMs = Date.now() - started;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'audio-pipeline-warmup-'));
  try {
    const wav = path.join(dir, 'silence.wav');
    await writeFile(wav, silentWav(16_000));
    const [result] = await engine.transcribeFiles([wav]);
    // A clip the engine could not transcribe comes back as an entry, not a throw: fail here.
    if ('error' in result) throw new Error(`pilot: the warm-up clip failed: ${result.error}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  logger.info(
    {
      model: config.whisper.model,
      device: config.whisper.device,
      provider: engine.provider,
      decoder: engine.inGraph ? 'in-graph' : 'loop',
      batchSize: engine.batchSize,
      loadMs: loadedMs,
      warmUpMs: Date.now() - started - loadedMs,
    },
    'pilot: model loaded and warmed up',
  );
}

/** One second of 16 kHz mono 16-bit silence as a WAV file. */
function silentWav(samples: number): Buffer {
  const data = samples * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(16_000, 24);
  b.writeUInt32LE(32_000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(data, 40);
  return b;
}
