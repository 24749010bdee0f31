/**
 * Cancelling a date (`temporal workflow cancel`) stops its archives and leaves their queue rows
 * `failed` — not `running` forever — so the scheduler can pick the date up again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { dateStatus } from '../../db/queries/queue.ts';
import { archiveWorkflowId } from '../../workflows/contract.ts';
import { generateDay } from '../../lib/sample-day/generate.ts';
import { makeTempDir } from '../support/postgres.ts';
import { waitForPendingActivity } from '../support/temporal.ts';
import { startTestPipeline } from '../support/test-pipeline.ts';

const DATE = '2024-07-08';

test('a cancelled date records its date and archive rows as failed', { timeout: 5 * 60_000 }, async () => {
  const dataDir = await makeTempDir('audio-pipeline-cancel-');
  const incoming = path.join(dataDir, 'incoming');
  await generateDay({ date: DATE, archives: 1, clipsPerArchive: 2, outDir: incoming, seed: 2 });
  const pipeline = await startTestPipeline({ dataDir, incoming, logLevel: 'silent' });
  const { env, pg } = pipeline;
  try {
    const worker = await pipeline.cpuWorker('test-cancel-cpu');
    await worker.runUntil(async () => {
      // No worker polls this GPU queue: the archive waits at transcription until cancelled.
      const handle = await env.client.workflow.start('processDate', {
        taskQueue: 'test-cancel-cpu',
        workflowId: `process-date-${DATE}`,
        args: [{ date: DATE, gpuTaskQueue: 'test-cancel-gpu-nobody' }],
      });
      const child = env.client.workflow.getHandle(archiveWorkflowId(`${DATE}_00-00`));
      await waitForPendingActivity(child, 'transcribeClips');
      await handle.cancel();
      await assert.rejects(handle.result());
      assert.equal((await child.describe()).status.name, 'CANCELLED');
    });
    const status = await dateStatus(pg.opened.db, DATE);
    assert.equal(status?.status, 'failed');
    assert.deepEqual(
      status?.archives.map((a) => a.status),
      ['failed'],
    );
    assert.match(status?.archives[0].error ?? '', /cancel/i);
  } finally {
    await pipeline.close();
  }
});
