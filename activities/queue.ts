import { upsertQueue, type QueueUpdate } from '../db/queries/queue.ts';
import type { DatabaseContext } from './context.ts';

export function createQueue({ db }: DatabaseContext) {
  return {
    /** Records a date's or an archive's state in processing_queue (what the monitor and `status` read). */
    async recordQueue(update: QueueUpdate): Promise<void> {
      await upsertQueue(db, update);
    },
  };
}
