/**
 * Typed errors. `BadInputError` marks input that will never succeed on retry (a corrupt archive,
 * an unsafe tar entry, a malformed parquet file): activities convert it into a non-retryable
 * Temporal failure. Everything else is assumed transient and retried with backoff.
 */
export class BadInputError extends Error {
  override readonly name = 'BadInputError';
  constructor(
    message: string,
    /** The file, archive or clip the error concerns. */
    readonly subject?: string,
  ) {
    super(subject ? `${subject}: ${message}` : message);
  }
}

/** A setting has a bad value: startup stops and names the variable. */
export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
