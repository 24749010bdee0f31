import { ApplicationFailure } from '@temporalio/activity';
import { BadInputError } from '../lib/errors.ts';

/**
 * Runs an activity body, turning BadInputError (input that will never succeed) into a
 * non-retryable failure so the workflow fails fast; anything else is retried with backoff.
 */
export async function failFastOnBadInput<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof BadInputError) {
      throw ApplicationFailure.create({
        message: err.message,
        type: 'BadInputError',
        nonRetryable: true,
        cause: err,
      });
    }
    throw err;
  }
}
