import { rm } from 'node:fs/promises';
import { stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { runStage } from './run-stage.ts';

export function createCleanup({ config, logger }: ActivityContext) {
  return {
    /**
     * Removes the archive's staging folder once its rows are stored and its Opus files uploaded.
     * With upload off the Opus files are the only copy: they and the manifest stay.
     */
    async cleanupArchive(ref: ArchiveRef): Promise<{ removed: string[] }> {
      return runStage(async () => {
        const staging = stagingFor(config, ref);
        const removed = config.upload ? [staging.dir] : [staging.extractDir, staging.archiveFile];
        for (const p of removed) await rm(p, { recursive: true, force: true });
        logger.info({ stage: 'cleanup', ...ref, removed }, 'cleanup done');
        return { removed };
      });
    },
  };
}
