/**
 * Records the histories of the scheduling paths for test/integration/workflow-replay.test.ts
 * (part of `npm run record-histories`; read record.ts and docs/workflows.md first):
 * - discovered-date: a discoverDates run that finds a new date and starts it, and that date;
 * - retried-date: a date whose second archive is truncated, then `retry` — the run that skips
 *   the completed archive (onlyUnfinished, patch `skip-completed-archives`).
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { archiveWorkflowId, backfillWorkflowId, dateWorkflowId } from '../../workflows/contract.ts';
import { backfillDates, discoveryInput } from '../../temporal-client/discovery-schedule.ts';
import { retryDate } from '../../temporal-client/retry-date.ts';
import { startDate } from '../../temporal-client/start-date.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { writeHistoryFile } from '../support/history-files.ts';
import { makeTempDir } from '../support/postgres.ts';
import { startTestPipeline } from '../support/test-pipeline.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DISCOVERED = '2024-01-04';
const RETRIED = '2024-01-05';

async function save(client: Client, scenario: string, workflowIds: string[]): Promise<void> {
  const dir = path.join(HERE, scenario);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const id of workflowIds) {
    // The latest run of each id: for retried-date, the retry.
    await writeHistoryFile(path.join(dir, `${id}.json`), await client.workflow.getHandle(id).fetchHistory());
  }
  console.log(`${scenario}: ${workflowIds.length} histories in ${path.relative(process.cwd(), dir)}`);
}

async function main(): Promise<void> {
  const dataDir = await makeTempDir('audio-pipeline-record-');
  const incoming = path.join(dataDir, 'incoming');
  for (const [date, archives, truncatedArchive] of [
    [DISCOVERED, 1, false],
    [RETRIED, 2, true],
  ] as const)
    await generateDay({
      date,
      archives,
      clipsPerArchive: 1,
      outDir: incoming,
      seed: 1,
      defects: { truncatedArchive },
    });
  const pipeline = await startTestPipeline({
    dataDir,
    incoming,
    settings: {
      WHISPER_MODEL: process.env.WHISPER_MODEL ?? 'base',
      TASK_QUEUE: 'record-histories-cpu',
      GPU_TASK_QUEUE: 'record-histories-gpu',
      ARCHIVE_CONCURRENCY: '1',
    },
  });
  const { env, config } = pipeline;
  const client = env.client;
  try {
    await pipeline.cpuWorker(config.temporal.taskQueue);
    await pipeline.gpuWorker(config.temporal.gpuTaskQueue);
    pipeline.runWorkers();

    const range = { from: DISCOVERED, to: DISCOVERED };
    await backfillDates(client, { ...discoveryInput(config), ...range });
    await client.workflow.getHandle(dateWorkflowId(DISCOVERED)).result();
    await save(client, 'discovered-date', [
      backfillWorkflowId(DISCOVERED, DISCOVERED),
      dateWorkflowId(DISCOVERED),
      archiveWorkflowId(`${DISCOVERED}_00-00`),
    ]);

    const first = await startDate(
      client,
      { date: RETRIED, gpuTaskQueue: config.temporal.gpuTaskQueue, archiveConcurrency: 1 },
      config.temporal.taskQueue,
    );
    await first.result();
    const retry = await retryDate(client, config, RETRIED);
    await client.workflow.getHandle(retry.workflowId, retry.runId).result();
    await save(client, 'retried-date', [dateWorkflowId(RETRIED), archiveWorkflowId(`${RETRIED}_00-10`)]);
  } finally {
    await pipeline.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
