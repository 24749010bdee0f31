import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { CpuActivities } from '../activities/index.ts';
import { shortActivity } from './retry-policies.ts';
import { DATE_PATTERN, type DiscoverDatesInput, type DiscoverDatesResult } from './contract.ts';

const { enqueueSourceDates, startDueDates } = proxyActivities<CpuActivities>(shortActivity);

/**
 * One tick of the discovery schedule: enqueue what the source holds (new dates, and finished
 * dates whose archives were still arriving), then start the due dates up to
 * maxConcurrentDates. It does not wait for them: the dates run as workflows of their own, and
 * the next tick starts more as they finish. Every decision reads the queue afresh, so a skipped
 * or repeated tick loses nothing.
 */
export async function discoverDates(input: DiscoverDatesInput): Promise<DiscoverDatesResult> {
  for (const [field, value] of [
    ['from', input.from],
    ['to', input.to],
  ] as const) {
    if (value !== undefined && !DATE_PATTERN.test(value))
      throw ApplicationFailure.nonRetryable(
        `${field} must be YYYY-MM-DD, got ${JSON.stringify(value)}`,
        'BadInputError',
      );
  }
  const { added, revisited } = await enqueueSourceDates({
    source: input.source,
    from: input.from,
    to: input.to,
  });
  const { started } = await startDueDates(input);
  return { added, revisited, started };
}
