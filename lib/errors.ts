/**
 * No imports: the workflow bundle loads this file too (workflows/failure-message.ts).
 *
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

/** The error and its causes, outermost first (`cause` links, as Temporal failures and pg errors chain). */
export function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && !chain.includes(e);) {
    chain.push(e);
    e = typeof e === 'object' && 'cause' in e ? (e as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

/**
 * What went wrong at the bottom: the innermost cause's message (a child workflow's failure wraps
 * the activity failure that wraps the error that caused it), skipping causes without a message.
 */
export function innermostMessage(err: unknown): string {
  const messages = causeChain(err)
    .map((e) => (e instanceof Error ? e.message : ''))
    .filter(Boolean);
  return messages.at(-1) ?? errorMessage(err);
}
