/**
 * Records the autoscaler's history for test/integration/workflow-replay.test.ts (part of
 * `npm run record-histories`; read record.ts and docs/workflows.md first):
 * - autoscale-rounds: a date waits at transcription (its GPU queue has no worker) while
 *   autoscaleGpuWorkers runs three rounds against the real one-node SLURM (`make slurm`), seeing
 *   one transcription waiting. maxJobs 0: it counts demand and supply but submits no job, so
 *   no pilot job outlives the recording.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { archiveWorkflowId, autoscaleWorkflowId, dateWorkflowId } from '../../workflows/contract.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { writeHistoryFile } from '../support/history-files.ts';
import { makeTempDir } from '../support/postgres.ts';
import { waitForPendingActivity } from '../support/temporal.ts';
import { startTestPipeline } from '../support/test-pipeline.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCENARIO = 'autoscale-rounds';
const DATE = '2024-01-06';
const CPU_QUEUE = 'record-histories-cpu';
/** No worker polls it: the date's transcription waits there, which is the autoscaler's demand. */
const GPU_QUEUE = 'record-histories-gpu-autoscaled';

async function main(): Promise<void> {
  const dataDir = await makeTempDir('audio-pipeline-record-');
  const incoming = path.join(dataDir, 'incoming');
  await generateDay({ date: DATE, archives: 1, clipsPerArchive: 1, outDir: incoming, seed: 1 });
  const pipeline = await startTestPipeline({
    dataDir,
    incoming,
    settings: { WHISPER_MODEL: process.env.WHISPER_MODEL ?? 'base', GPU_TASK_QUEUE: GPU_QUEUE },
  });
  const client = pipeline.env.client;
  try {
    await pipeline.cpuWorker(CPU_QUEUE);
    pipeline.runWorkers();
    const date = await client.workflow.start('processDate', {
      taskQueue: CPU_QUEUE,
      workflowId: dateWorkflowId(DATE),
      args: [{ date: DATE, gpuTaskQueue: GPU_QUEUE, archiveConcurrency: 1 }],
    });
    await waitForPendingActivity(
      client.workflow.getHandle(archiveWorkflowId(`${DATE}_00-00`)),
      'transcribeClips',
    );
    const autoscaleId = autoscaleWorkflowId(GPU_QUEUE);
    const result = await client.workflow.execute('autoscaleGpuWorkers', {
      taskQueue: CPU_QUEUE,
      workflowId: autoscaleId,
      args: [{ maxJobs: 0, intervalSeconds: 1, rounds: 3 }],
    });
    await date.cancel();
    await date.result().catch(() => {});
    const dir = path.join(HERE, SCENARIO);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeHistoryFile(
      path.join(dir, `${autoscaleId}.json`),
      await client.workflow.getHandle(autoscaleId).fetchHistory(),
    );
    console.log(`${SCENARIO}: ${JSON.stringify(result)}; 1 history in ${path.relative(process.cwd(), dir)}`);
  } finally {
    await pipeline.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
