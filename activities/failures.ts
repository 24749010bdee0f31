import { ApplicationFailure } from '@temporalio/activity';
import { BadInputError, ConfigError } from '../lib/errors.ts';

/**
 * Runs an activity body, turning BadInputError (input that will never succeed) and ConfigError
 * (a setting that cannot work, e.g. WHISPER_DEVICE=cuda without CUDA) into non-retryable
 * failures so the workflow fails fast; anything else is retried with backoff.
 */
export async function failFastOnBadInput<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof BadInputError || err instanceof ConfigError) {
      throw ApplicationFailure.create({
        message: err.message,
        type: err.name,
        nonRetryable: true,
        cause: err,
      });
    }
    throw err;
  }
}
