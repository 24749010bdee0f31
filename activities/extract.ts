import path from 'node:path';
import { rm } from 'node:fs/promises';
import { BadInputError } from '../lib/errors.ts';
import { extractArchive as extractTarXz } from '../lib/archive/extract.ts';
import { readMetadataReport } from '../lib/metadata/read.ts';
import { writeMetadataRows } from '../lib/metadata/rows-file.ts';
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
  /** How many rows had a problem in all. */
  metadataProblemCount: number;
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
        const { limits } = config;
        const report = await extractTarXz(staging.archiveFile, staging.extractDir, {
          maxEntryBytes: limits.maxEntryBytes,
          maxTotalBytes: limits.maxArchiveBytes,
          maxEntries: limits.maxArchiveEntries,
          maxXzMemoryBytes: limits.maxXzMemoryBytes,
          maxMetaBytes: limits.maxTarMetaBytes,
          signal: attempt.signal,
        });
        // Rows without an id cannot become rows of their own: they are reported, not dropped silently.
        // A metadata.parquet that cannot be read at all (no id column, corrupt, over
        // MAX_PARQUET_ROWS) costs the metadata, not the clips: they go on without it.
        const {
          rows: metadata,
          problems,
          problemCount,
        } = report.metadataPath
          ? await readMetadataReport(report.metadataPath, { maxRows: limits.maxParquetRows }).catch(
              (err: unknown) => {
                if (!(err instanceof BadInputError)) throw err;
                return { rows: [], problems: [`metadata.parquet not used: ${err.message}`], problemCount: 1 };
              },
            )
          : { rows: [], problems: ['no metadata.parquet in the archive'], problemCount: 1 };
        await writeMetadataRows(staging.metadataRowsFile, metadata);
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
          refusedCount: report.refusedCount,
          metadataProblems: problems.slice(0, 20),
          metadataProblemCount: problemCount,
        };
        logger.info(
          {
            stage: 'extract',
            ...ref,
            ...summary,
            refused: summary.refused.length,
            metadataProblems: problemCount,
            ms: Date.now() - started,
          },
          'extract done',
        );
        return summary;
      });
    },
  };
}
