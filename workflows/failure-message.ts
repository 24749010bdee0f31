import { isCancellation } from '@temporalio/workflow';

/**
 * What went wrong, for a queue row and a summary: the innermost cause's message (a child's
 * failure wraps the activity failure that caused it), or `cancelled` when someone cancelled the
 * workflow — a cancellation carries no message of its own.
 */
export function rootMessage(err: unknown): string {
  if (isCancellation(err)) return 'cancelled';
  let message = err instanceof Error ? err.message : String(err);
  let e: unknown = err;
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause) {
    e = (e as { cause: unknown }).cause;
    if (e instanceof Error && e.message) message = e.message;
  }
  return message;
}
