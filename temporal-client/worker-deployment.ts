import type { Client } from '@temporalio/client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Makes `buildId` the Current Version of the Worker Deployment `deploymentName`: new dates start
 * on it; running dates stay PINNED to the build they started on (workers/versioning.ts). A
 * version exists once one of its workers has polled, and the server refuses it while it lacks a
 * task queue the current version has (its GPU workers not polling yet): both are waited for,
 * up to `timeoutMs`, unless `ignoreMissingTaskQueues`.
 */
export async function promoteWorkerVersion(
  client: Client,
  version: { deploymentName: string; buildId: string },
  options: { timeoutMs: number; ignoreMissingTaskQueues?: boolean; identity?: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      await client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: client.options.namespace,
        deploymentName: version.deploymentName,
        buildId: version.buildId,
        ignoreMissingTaskQueues: options.ignoreMissingTaskQueues ?? false,
        identity: options.identity ?? 'audio-pipeline temporal promote',
      });
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(
          `cannot make ${version.deploymentName}.${version.buildId} the current version: ${
            err instanceof Error ? err.message : String(err)
          } (are its cpu and gpu workers polling?)`,
        );
      await sleep(1000);
    }
  }
}
