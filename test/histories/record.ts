/**
 * Re-records the workflow histories that test/integration/workflow-replay.test.ts replays:
 * `npm run record-histories`. Runs real dates through the real pipeline (Temporal dev server,
 * embedded PostgreSQL, ffmpeg, the Whisper model of WHISPER_MODEL, default base) and writes
 * every workflow execution's history (the date and each archive child) as
 * test/histories/<scenario>/<workflow id>.json (test/support/history-files.ts).
 *
 * Re-record only when a workflow change is *meant* to break replay of running executions (and
 * then read docs/workflows.md first: that change needs `patched()` or a new worker version);
 * add a scenario when a new workflow or path lands. Old recordings stay valid for as long as
 * executions started by old code may still be running.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { archiveWorkflowId, dateWorkflowId } from '../../workflows/contract.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { writeHistoryFile } from '../support/history-files.ts';
import { makeTempDir } from '../support/postgres.ts';
import { waitForPendingActivity } from '../support/temporal.ts';
import { startTestPipeline } from '../support/test-pipeline.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CPU_QUEUE = 'record-histories-cpu';
const GPU_QUEUE = 'record-histories-gpu';
/** A GPU queue no worker polls: a date sent there waits at transcription until cancelled. */
const NOBODY_QUEUE = 'record-histories-gpu-nobody';

interface Scenario {
  name: string;
  date: string;
  archives: number;
  truncatedArchive?: boolean;
  cancel?: boolean;
}

const SCENARIOS: Scenario[] = [
  // every archive and clip succeeds
  { name: 'clean-date', date: '2024-01-01', archives: 2 },
  // the second archive is a truncated .tar.xz: that child fails, the date completes with errors
  { name: 'failed-archive', date: '2024-01-02', archives: 2, truncatedArchive: true },
  // cancelled while its archive waits for transcription
  { name: 'cancelled-date', date: '2024-01-03', archives: 1, cancel: true },
];

async function main(): Promise<void> {
  const dataDir = await makeTempDir('audio-pipeline-record-');
  const incoming = path.join(dataDir, 'incoming');
  for (const s of SCENARIOS) {
    // One speech clip per archive (CYCLE in the generator starts with English speech): a real
    // transcription, kept short.
    await generateDay({
      date: s.date,
      archives: s.archives,
      clipsPerArchive: 1,
      outDir: incoming,
      seed: 1,
      defects: { truncatedArchive: s.truncatedArchive },
    });
  }
  const pipeline = await startTestPipeline({
    dataDir,
    incoming,
    settings: { WHISPER_MODEL: process.env.WHISPER_MODEL ?? 'base' },
  });
  const { env } = pipeline;
  try {
    await pipeline.cpuWorker(CPU_QUEUE);
    await pipeline.gpuWorker(GPU_QUEUE);
    pipeline.runWorkers();

    for (const s of SCENARIOS) {
      const handle = await env.client.workflow.start('processDate', {
        taskQueue: CPU_QUEUE,
        workflowId: dateWorkflowId(s.date),
        args: [{ date: s.date, gpuTaskQueue: s.cancel ? NOBODY_QUEUE : GPU_QUEUE, archiveConcurrency: 1 }],
      });
      if (s.cancel) {
        await waitForPendingActivity(
          env.client.workflow.getHandle(archiveWorkflowId(`${s.date}_00-00`)),
          'transcribeClips',
        );
        await handle.cancel();
      }
      const outcome = await handle.result().then(
        (r) => `${(r as { status: string }).status}`,
        (e: Error) => `failed: ${e.message}`,
      );
      const ids = [dateWorkflowId(s.date)];
      for (let a = 0; a < s.archives; a++)
        ids.push(archiveWorkflowId(`${s.date}_00-${String(a * 10).padStart(2, '0')}`));
      const dir = path.join(HERE, s.name);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      for (const id of ids) {
        const history = await env.client.workflow.getHandle(id).fetchHistory();
        await writeHistoryFile(path.join(dir, `${id}.json`), history);
      }
      console.log(
        `${s.name}: ${s.date} ${outcome}; ${ids.length} histories in ${path.relative(process.cwd(), dir)}`,
      );
    }
  } finally {
    await pipeline.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
