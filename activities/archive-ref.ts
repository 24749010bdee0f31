import { Context } from '@temporalio/activity';
import { ArchiveStaging, type StageAttempt } from '../lib/staging.ts';
import type { Stage } from '../lib/manifest.ts';
import type { Config } from '../lib/config.ts';

/** The plain-JSON reference every per-archive activity takes. */
export interface ArchiveRef {
  date: string;
  archive: string;
}

export function stagingFor(config: Config, ref: ArchiveRef): ArchiveStaging {
  return new ArchiveStaging(config.stagingDir, ref.date, ref.archive);
}

/**
 * This activity attempt as the staging folder's fence knows it: the workflow run, the stage and
 * the attempt number, and the signal that tells it it was cancelled or timed out.
 */
export function currentAttempt(stage: Stage): StageAttempt {
  const ctx = Context.current();
  return {
    run: ctx.info.workflowExecution?.runId ?? ctx.info.activityId,
    stage,
    attempt: ctx.info.attempt,
    signal: ctx.cancellationSignal,
  };
}
