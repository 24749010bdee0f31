import type { ActivityOptions } from '@temporalio/workflow';

/**
 * Transient failures (a busy database, a network blip, a preempted GPU node) are retried with
 * exponential backoff; BadInputError and ConfigError are non-retryable (activities/run-stage.ts),
 * so a corrupt archive fails fast instead of burning retries.
 */
const retry = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: ['BadInputError', 'ConfigError'],
};

export const shortActivity: ActivityOptions = {
  startToCloseTimeout: '5m',
  retry,
};

/**
 * One row written to the database: done in well under a second. A task the server handed out
 * just before it went down (a restart) is never run and only its timeout tells: at 5 minutes an
 * archive waited that long after a server restart (test/integration/temporal-server.test.ts).
 */
export const recordActivity: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry,
};

/** Long, heartbeating stages: a worker that dies is noticed within the heartbeat timeout. */
export const longActivity: ActivityOptions = {
  startToCloseTimeout: '4h',
  heartbeatTimeout: '2m',
  retry,
};

/** longActivity with the workflow input's heartbeat timeout, if it has one (contract.ts). */
export function longActivityWith(heartbeatTimeout: string | undefined): ActivityOptions {
  return heartbeatTimeout ? { ...longActivity, heartbeatTimeout } : longActivity;
}
