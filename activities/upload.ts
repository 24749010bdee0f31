import { uploadToTarget } from '../lib/storage/target.ts';
import { clipsToUpload, markUploaded } from '../lib/manifest.ts';
import { markUploaded as markRowsUploaded } from '../db/queries/mark-uploaded.ts';
import { currentAttempt, stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { DatabaseContext } from './context.ts';
import { runStage } from './run-stage.ts';

export function createUpload({ config, logger, db }: DatabaseContext) {
  return {
    /** Copies the stored clips' Opus files to STORAGE_TARGET as `<root>/<YYYY>/<MM>/<DD>/<id>.opus`. */
    async uploadClips(ref: ArchiveRef): Promise<{ uploaded: number; skipped: boolean }> {
      return runStage(async () => {
        if (!config.upload) return { uploaded: 0, skipped: true };
        const started = Date.now();
        const staging = stagingFor(config, ref);
        const attempt = currentAttempt('upload');
        const { manifest } = await staging.beginAttempt(attempt);
        if (!manifest) throw new Error(`no manifest in ${staging.dir}`); // beginAttempt rebuilds it
        const stored = clipsToUpload(manifest);
        const uploads = await uploadToTarget(
          config.storageTarget,
          ref.date,
          stored.map((c) => ({ id: c.id, path: c.opusPath as string })),
        );
        await markRowsUploaded(
          db,
          ref.date,
          ref.archive,
          uploads.map((u) => ({ id: u.id, storageUri: u.uri })),
        );
        const uriOf = new Map(uploads.map((u) => [u.id, u.uri]));
        for (const clip of stored) markUploaded(clip, uriOf.get(clip.id) as string);
        await staging.writeManifest(manifest, attempt);
        logger.info(
          { stage: 'upload', ...ref, uploaded: uploads.length, ms: Date.now() - started },
          'upload done',
        );
        return { uploaded: uploads.length, skipped: false };
      });
    },
  };
}
