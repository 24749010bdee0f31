/** Every query of db/queries, for callers that want one import. */
export type { Db } from './database.ts';
export { storeArchive, type StoreArchiveResult } from './store-archive.ts';
export { markUploaded, type Upload } from './mark-uploaded.ts';
export {
  upsertQueue,
  getPending,
  dateStatus,
  DATE_ROW,
  type QueueUpdate,
  type QueueStatus,
  type PendingDate,
  type DateStatus,
  type ArchiveStatus,
} from './queue.ts';
export { searchTranscripts, type SearchHit, type SearchOptions } from './search-transcripts.ts';
export { exportDate, EXPORT_KEYS, type ExportRow } from './export-date.ts';
export { countsByStatus } from './clip-counts.ts';
