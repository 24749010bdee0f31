import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from '../lib/config.ts';

/**
 * Worker Versioning (Temporal Worker Deployments): with WORKER_BUILD_ID set, a worker polls as
 * version WORKER_DEPLOYMENT_NAME.WORKER_BUILD_ID, and the workflows it starts are PINNED to it:
 * a date (and each of its archives) runs to its end on the build it started on, whatever
 * release is rolled out meanwhile, and its activities — on the GPU queue too — go to workers of
 * that same build. New dates go to the deployment's Current Version (`audio-pipeline temporal
 * promote`). Unset, workers are unversioned, as on the dev server.
 * Rolling out: deploy/temporal/README.md, "Rolling out a new version".
 */
export function workerDeploymentOptions(config: Config): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  const version = config.temporal.workerVersion;
  if (!version) return {};
  return {
    workerDeploymentOptions: {
      version,
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'PINNED',
    },
  };
}
