import path from 'node:path';
import { rm } from 'node:fs/promises';
import { extractArchive as extractTarXz } from '../lib/archive/extract.ts';
import { readMetadataReport } from '../lib/metadata/read.ts';
import { joinClipsWithMetadata } from '../lib/archive/clip-join.ts';
import { currentAttempt, stagingFor, type ArchiveRef } from './archive-ref.ts';
import type { ActivityContext } from './context.ts';
import { runStage } from './run-stage.ts';

export interface ExtractSummary {
  clips: number;
  withoutClip: number;
  withoutMetadata: number;
  /** The first refused entries (all of them are in the manifest): payloads stay small. */
  refused: { entry: string; reason: string }[];
  refusedCount: number;
  /** Rows of metadata.parquet that could not be used (no id, a repeated id), first 20. */
  metadataProblems: string[];
}

export function createExtract({ config, logger }: ActivityContext) {
  return {
    /**
     * tar.xz → `extracted/`, safely (unsafe entries are refused and reported), then joins the
     * clips with metadata.parquet into the archive's manifest: one record per video.
     */
    async extractArchive(ref: ArchiveRef): Promise<ExtractSummary> {
      return runStage(async () => {
        const started = Date.now();
        const staging = stagingFor(config, ref);
        const attempt = currentAttempt('extract');
        await staging.beginAttempt(attempt);
        // A retry starts from a clean folder: extraction is cheap next to what follows.
        await rm(staging.extractDir, { recursive: true, force: true });
        const report = await extractTarXz(staging.archiveFile, staging.extractDir, {
          maxEntryBytes: config.limits.maxEntryBytes,
          maxTotalBytes: config.limits.maxArchiveBytes,
        });
        // Rows without an id cannot become rows of their own: they are reported, not dropped silently.
        const { rows: metadata, problems } = report.metadataPath
          ? await readMetadataReport(report.metadataPath)
          : { rows: [], problems: ['no metadata.parquet in the archive'] };
        const clips = joinClipsWithMetadata(
          ref,
          report.audioFiles.map((f) => path.resolve(staging.extractDir, f)),
          metadata,
          report.files,
        );
        await staging.writeManifest(
          {
            ...ref,
            metadataPath: report.metadataPath,
            refused: report.refused,
            clips,
          },
          attempt,
        );
        const summary: ExtractSummary = {
          clips: clips.length,
          withoutClip: clips.filter((c) => c.sourceName === null).length,
          withoutMetadata: clips.filter((c) => !c.hasMetadata).length,
          refused: report.refused.slice(0, 20),
          refusedCount: report.refused.length,
          metadataProblems: problems.slice(0, 20),
        };
        logger.info(
          {
            stage: 'extract',
            ...ref,
            ...summary,
            refused: summary.refused.length,
            metadataProblems: problems.length,
            ms: Date.now() - started,
          },
          'extract done',
        );
        return summary;
      });
    },
  };
}
