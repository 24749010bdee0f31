import { isCancellation } from '@temporalio/workflow';
import { innermostMessage } from '../lib/errors.ts';

/**
 * What went wrong, for a queue row and a summary: the innermost cause's message, or `cancelled`
 * when someone cancelled the workflow — a cancellation carries no message of its own.
 */
export function rootMessage(err: unknown): string {
  return isCancellation(err) ? 'cancelled' : innermostMessage(err);
}
