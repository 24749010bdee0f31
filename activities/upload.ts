import { uploadToTarget } from '../lib/storage/target.ts';
import { clipsToUpload, markUploaded } from '../lib/manifest.ts';
import { uploadOwnedClips } from '../db/queries/mark-uploaded.ts';
import { currentAttempt, stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { DatabaseContext } from './context.ts';
import { runStage } from './run-stage.ts';

export function createUpload({ config, logger, db }: DatabaseContext) {
  return {
    /**
     * Copies the stored clips' Opus files to STORAGE_TARGET as `<root>/<YYYY>/<MM>/<DD>/<id>.opus`,
     * durably (fsync) before their rows are marked uploaded; only then may cleanup delete staging.
     */
    async uploadClips(ref: ArchiveRef): Promise<{ uploaded: number; skipped: boolean }> {
      return runStage(async () => {
        if (!config.upload) return { uploaded: 0, skipped: true };
        const started = Date.now();
        const staging = stagingFor(config, ref);
        const attempt = currentAttempt('upload');
        const { manifest } = await staging.beginAttempt(attempt);
        if (!manifest) throw new Error(`no manifest in ${staging.dir}`); // beginAttempt rebuilds it
        const stored = new Map(clipsToUpload(manifest).map((c) => [c.id, c]));
        // Only the clips whose rows this archive owns: a video id shared with another archive of
        // the date has one winner, whose file alone goes to <root>/<YYYY>/<MM>/<DD>/<id>.opus.
        const uploads = await uploadOwnedClips(
          db,
          ref.date,
          ref.archive,
          [...stored.keys()],
          async (owned) => {
            const files = owned.map((id) => stored.get(id)!);
            const copied = await uploadToTarget(
              config.storageTarget,
              ref.date,
              files.map((c) => ({ id: c.id, path: c.opusPath as string, sha256: c.sha256 })),
              { signal: attempt.signal }, // checked before each rename
            );
            return copied.map((u) => ({ id: u.id, storageUri: u.uri }));
          },
        );
        for (const u of uploads) markUploaded(stored.get(u.id)!, u.storageUri);
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
