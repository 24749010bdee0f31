/**
 * The status vocabularies, defined once: the manifest, the database (db/schema.ts derives its
 * check constraints from these lists), the workflows' outcomes and the CLI's output use them.
 * No imports, so that drizzle-kit's bundler and the workflow bundle can both load this file.
 */

/**
 * A clip's way through the stages: `pending` (extracted) → `converted` (Opus written; its
 * transcript, if any, waits in transcripts.jsonl) → `stored` (rows in PostgreSQL) → `uploaded`
 * (in STORAGE_TARGET). `failed` at any stage, with the stage and reason in `error`.
 */
export const CLIP_STATUSES = ['pending', 'converted', 'stored', 'uploaded', 'failed'] as const;
export type ClipStatus = (typeof CLIP_STATUSES)[number];

/** A date's or an archive's row in processing_queue. */
export const QUEUE_STATUSES = ['pending', 'running', 'completed', 'completed_with_errors', 'failed'] as const;
export type QueueStatus = (typeof QUEUE_STATUSES)[number];

/** How a date or an archive ended (its row gets `finished_at`; a workflow returns one of these). */
export const FINISHED_STATUSES = [
  'completed',
  'completed_with_errors',
  'failed',
] as const satisfies readonly QueueStatus[];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];
