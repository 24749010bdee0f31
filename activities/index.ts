import { createAutoscale } from './autoscale.ts';
import { createCleanup } from './cleanup.ts';
import type { DatabaseContext } from './context.ts';
import { createConvert } from './convert.ts';
import { createDiscovery } from './discovery.ts';
import { createExtract } from './extract.ts';
import { createListArchives } from './list-archives.ts';
import { createQueue } from './queue.ts';
import { createStore } from './store.ts';
import { createTranscribe, type TranscribeContext } from './transcribe.ts';
import { createTransfer } from './transfer.ts';
import { createUpload } from './upload.ts';

/** Activities of the `audio-pipeline` queue (CPU, I/O and database work). */
export function createCpuActivities(ctx: DatabaseContext) {
  return {
    ...createListArchives(ctx),
    ...createTransfer(ctx),
    ...createExtract(ctx),
    ...createConvert(ctx),
    ...createStore(ctx),
    ...createUpload(ctx),
    ...createCleanup(ctx),
    ...createQueue(ctx),
    ...createAutoscale(ctx),
    ...createDiscovery(ctx),
  };
}

/** Activities of the `audio-pipeline-gpu` queue: only transcription, where the model lives. */
export function createGpuActivities(ctx: TranscribeContext) {
  return { ...createTranscribe(ctx) };
}

export type CpuActivities = ReturnType<typeof createCpuActivities>;
export type GpuActivities = ReturnType<typeof createGpuActivities>;
