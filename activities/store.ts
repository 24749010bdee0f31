import { readMetadata } from '../lib/metadata/read.ts';
import { readMetadataRows } from '../lib/metadata/rows-file.ts';
import { applyTranscripts } from '../lib/manifest.ts';
import { readTranscriptLines } from '../lib/staging.ts';
import { storeArchive as storeArchiveRows } from '../db/queries/store-archive.ts';
import { currentAttempt, stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { DatabaseContext } from './context.ts';
import { runStage } from './run-stage.ts';

export function createStore({ config, logger, db }: DatabaseContext) {
  return {
    /**
     * One transaction per archive: every clip of the manifest ends as a row with a status
     * (`stored`, or `failed` with the stage and reason), with its metadata and transcript.
     */
    async storeArchive(ref: ArchiveRef): Promise<{ total: number; stored: number; failed: number }> {
      return runStage(async () => {
        const started = Date.now();
        const staging = stagingFor(config, ref);
        const attempt = currentAttempt('store');
        const { manifest, rebuilt } = await staging.beginAttempt(attempt);
        if (!manifest) throw new Error(`no manifest in ${staging.dir}`); // beginAttempt rebuilds it
        if (rebuilt) logger.warn({ stage: 'store', ...ref }, 'manifest.json was damaged: rebuilt');
        const metadata =
          (await readMetadataRows(staging.metadataRowsFile)) ??
          (manifest.metadataPath
            ? await readMetadata(manifest.metadataPath, { maxRows: config.limits.maxParquetRows })
            : []);
        const transcripts = applyTranscripts(manifest, await readTranscriptLines(staging.transcriptsFile));
        attempt.signal?.throwIfAborted();
        const { rejected } = await storeArchiveRows(db, {
          ...ref,
          clips: manifest.clips,
          metadata: new Map(metadata.map((m) => [m.id, m])),
          transcripts,
        });
        // Rows PostgreSQL refused (a value it cannot hold) are failed clips, not a failed archive.
        const refusedById = new Map(rejected.map((r) => [r.id, r.reason]));
        for (const clip of manifest.clips) {
          const reason = refusedById.get(clip.id);
          if (reason) Object.assign(clip, { status: 'failed', error: reason });
        }
        if (rejected.length)
          logger.warn({ stage: 'store', ...ref, rejected: rejected.slice(0, 5) }, 'rows refused');
        await staging.writeManifest(manifest, attempt);
        const failed = manifest.clips.filter((c) => c.status === 'failed').length;
        const summary = { total: manifest.clips.length, stored: manifest.clips.length - failed, failed };
        logger.info({ stage: 'store', ...ref, ...summary, ms: Date.now() - started }, 'store done');
        return summary;
      });
    },
  };
}
