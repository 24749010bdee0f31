import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { clipsToUpload } from '../lib/manifest.ts';
import { currentAttempt, stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { runStage } from './run-stage.ts';

export function createCleanup({ config, logger }: ActivityContext) {
  return {
    /**
     * Removes the archive's staging folder once its rows are stored and its Opus files uploaded
     * (upload made them durable first). With UPLOAD=off the stored clips' Opus files are the only
     * copy: they and the manifest (which lists them) stay; everything else goes — the archive,
     * its extracted files, transcripts (now in the database), leftovers of killed attempts and the
     * Opus files of clips that were not stored.
     */
    async cleanupArchive(ref: ArchiveRef): Promise<{ removed: number }> {
      return runStage(async () => {
        const staging = stagingFor(config, ref);
        const attempt = currentAttempt('cleanup');
        let removed: string[];
        if (config.upload) {
          removed = [staging.dir];
        } else {
          const { manifest } = await staging.beginAttempt(attempt);
          const keep = new Set([
            staging.manifestFile,
            staging.opusDir,
            ...(manifest ? clipsToUpload(manifest).map((c) => c.opusPath) : []),
          ]);
          const inFolder = async (dir: string) =>
            (await readdir(dir).catch(() => [] as string[])).map((n) => path.join(dir, n));
          const all = [...(await inFolder(staging.dir)), ...(await inFolder(staging.opusDir))];
          removed = all.filter((p) => !keep.has(p));
        }
        attempt.signal?.throwIfAborted();
        for (const p of removed) await rm(p, { recursive: true, force: true });
        logger.info({ stage: 'cleanup', ...ref, removed: removed.length }, 'cleanup done');
        return { removed: removed.length };
      });
    },
  };
}
