/**
 * The store stage's write (DESIGN.md §1, §4): one archive, one transaction — either all of its
 * clips, metadata and transcripts land or none do. Re-running with the same input changes no
 * row (see upsert-unless-unchanged.ts).
 */
import { sql } from 'drizzle-orm';
import { BadInputError } from '../../lib/errors.ts';
import type { ArchiveRecord, ClipRecord } from '../../lib/manifest.ts';
import type { ClipMetadata } from '../../lib/metadata/types.ts';
import { asBadInput, inputErrorReason } from '../input-error.ts';
import {
  audioFiles,
  audioMetadata,
  transcripts,
  type AudioFileInsert,
  type AudioMetadataInsert,
  type TranscriptInsert,
} from '../schema.ts';
import { audioFileRow, audioMetadataRow, transcriptRow } from './clip-rows.ts';
import type { Db } from './database.ts';
import { upsertById, type UpsertOptions } from './upsert-unless-unchanged.ts';

export interface StoreArchiveResult {
  /** Rows the archive has, per table. */
  clips: number;
  metadata: number;
  transcripts: number;
  failed: number;
  /** Rows inserted or actually changed by this call (0 everywhere on an identical re-run). */
  changed: { audioFiles: number; audioMetadata: number; transcripts: number };
  /**
   * Clips PostgreSQL refused (a value it cannot hold): stored as `failed` with the reason, without
   * their metadata and transcript — or, when even that is refused, not stored (reason given).
   */
  rejected: { id: string; reason: string; stored: boolean }[];
}

/** Last one wins, as a later line of a manifest would. */
function uniqueById<T extends { id: string }>(items: Iterable<T>): T[] {
  const byId = new Map<string, T>();
  for (const item of items) byId.set(item.id, item);
  return [...byId.values()];
}

/**
 * A metadata row whose clip is missing from the manifest still gets a clip row (failed, with
 * the reason), so that nothing is silently dropped — DESIGN.md §1.
 */
function clipsCoveringMetadata(rec: ArchiveRecord): ClipRecord[] {
  const clips = uniqueById(rec.clips);
  const known = new Set(clips.map((c) => c.id));
  for (const [id, meta] of rec.metadata) {
    if (known.has(id)) continue;
    clips.push({
      id,
      date: rec.date,
      archive: rec.archive,
      sourceName: null,
      status: 'failed',
      error: `metadata row without a clip in the archive (expected ${meta.audioFile})`,
      mp3Path: null,
      mp3Bytes: null,
      opusPath: null,
      opusBytes: null,
      storageUri: null,
      durationS: null,
      sha256: null,
      hasMetadata: true,
    });
  }
  return clips;
}

/**
 * How a clip row meets the row already there for its video id (possibly from another archive —
 * the same video can be collected twice, even on one date):
 *
 * - **One deterministic winner per video id** (docs/reliability.md): an archive's own row is
 *   always replaced by its re-store; between two archives, a clip that is not failed beats a
 *   failed one (archive B's metadata row without a clip must not wipe the clip archive A stored),
 *   and otherwise the lexicographically later archive (the later collection) wins. Whatever the
 *   order the archives are stored and uploaded in, the same archive ends up owning the row, its
 *   metadata and transcript (written only by the owner) and the stored file (uploaded only by
 *   the owner, see mark-uploaded.ts).
 * - A re-store after upload does not undo the upload: the manifest, rebuilt after cleanup, says
 *   'stored' and no storage URI; while the Opus file is the same (same sha256) the row keeps its
 *   URI and stays 'uploaded'. A changed file is 'stored' again, without the stale URI, and the
 *   upload stage uploads it anew.
 */
const SAME_OPUS = sql.raw(`audio_files.sha256 IS NOT DISTINCT FROM excluded.sha256`);
const AUDIO_FILE_UPSERT: UpsertOptions = {
  set: {
    storageUri: sql`CASE WHEN excluded.storage_uri IS NULL AND ${SAME_OPUS}
      THEN audio_files.storage_uri ELSE excluded.storage_uri END`,
    status: sql`CASE WHEN excluded.status = 'stored' AND audio_files.status = 'uploaded'
        AND audio_files.storage_uri IS NOT NULL AND excluded.storage_uri IS NULL AND ${SAME_OPUS}
      THEN audio_files.status ELSE excluded.status END`,
  },
  guard: sql`audio_files.archive = excluded.archive
    OR (audio_files.status = 'failed' AND excluded.status <> 'failed')
    OR ((audio_files.status = 'failed') = (excluded.status = 'failed')
      AND excluded.archive COLLATE "C" > audio_files.archive COLLATE "C")`,
};

export async function storeArchive(db: Db, rec: ArchiveRecord): Promise<StoreArchiveResult> {
  const clips = clipsCoveringMetadata(rec);
  const clipIds = new Set(clips.map((c) => c.id));
  const strayTranscript = rec.transcripts.find((t) => !clipIds.has(t.id));
  if (strayTranscript) {
    throw new BadInputError(
      `transcript for clip ${strayTranscript.id}, which is not in the archive's manifest`,
      rec.archive,
    );
  }
  const metadata = new Map<string, ClipMetadata>();
  for (const [id, meta] of rec.metadata) metadata.set(id, { ...meta, id });

  const fileRows = clips.map((clip) => audioFileRow(rec.date, rec.archive, clip, metadata.get(clip.id)));
  const metadataRows = [...metadata.values()].map(audioMetadataRow);
  const transcriptRows = uniqueById(rec.transcripts).map(transcriptRow);

  let changed: StoreArchiveResult['changed'];
  let rejected: StoreArchiveResult['rejected'] = [];
  try {
    changed = await db.transaction(async (tx) => {
      const changedFiles = await upsertById(tx, audioFiles, fileRows, AUDIO_FILE_UPSERT);
      // Metadata and transcripts follow the row: only the archive that owns it writes them.
      const owned = await ownedIds(
        tx,
        rec.archive,
        fileRows.map((r) => r.id),
      );
      return {
        audioFiles: changedFiles,
        audioMetadata: await upsertById(
          tx,
          audioMetadata,
          metadataRows.filter((r) => owned.has(r.id)),
        ),
        transcripts: await upsertById(
          tx,
          transcripts,
          transcriptRows.filter((r) => owned.has(r.id)),
        ),
      };
    });
  } catch (err) {
    if (!inputErrorReason(err)) throw err;
    // One row PostgreSQL cannot take must not cost the archive: find it, row by row.
    try {
      ({ changed, rejected } = await storeRowByRow(db, rec, clips, fileRows, metadataRows, transcriptRows));
    } catch (fallbackErr) {
      throw asBadInput(fallbackErr, rec.archive);
    }
  }
  const refused = new Set(rejected.map((r) => r.id));
  return {
    clips: fileRows.length,
    metadata: metadataRows.length,
    transcripts: transcriptRows.length,
    failed: fileRows.filter((r) => r.status === 'failed' || refused.has(r.id)).length,
    changed,
    rejected,
  };
}

/**
 * The slow path, taken only after the one-statement path met an input error: one savepoint per
 * clip (its file, metadata and transcript rows together), in id order. A clip PostgreSQL refuses
 * is stored as failed with the reason, without its metadata and transcript.
 */
async function storeRowByRow(
  db: Db,
  rec: ArchiveRecord,
  clips: ClipRecord[],
  fileRows: AudioFileInsert[],
  metadataRows: AudioMetadataInsert[],
  transcriptRows: TranscriptInsert[],
): Promise<Pick<StoreArchiveResult, 'changed' | 'rejected'>> {
  const clipById = new Map(clips.map((c) => [c.id, c]));
  const metadataById = new Map(metadataRows.map((r) => [r.id, r]));
  const transcriptById = new Map(transcriptRows.map((r) => [r.id, r]));
  const changed = { audioFiles: 0, audioMetadata: 0, transcripts: 0 };
  const rejected: StoreArchiveResult['rejected'] = [];
  await db.transaction(async (tx) => {
    for (const fileRow of [...fileRows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      const meta = metadataById.get(fileRow.id);
      const transcript = transcriptById.get(fileRow.id);
      try {
        const counts = await tx.transaction(async (sp) => {
          const files = await upsertById(sp, audioFiles, [fileRow], AUDIO_FILE_UPSERT);
          const owned = (await ownedIds(sp, rec.archive, [fileRow.id])).has(fileRow.id);
          return {
            audioFiles: files,
            audioMetadata: meta && owned ? await upsertById(sp, audioMetadata, [meta]) : 0,
            transcripts: transcript && owned ? await upsertById(sp, transcripts, [transcript]) : 0,
          };
        });
        changed.audioFiles += counts.audioFiles;
        changed.audioMetadata += counts.audioMetadata;
        changed.transcripts += counts.transcripts;
      } catch (err) {
        const reason = inputErrorReason(err);
        if (!reason) throw err;
        const clip = clipById.get(fileRow.id) as ClipRecord;
        const failedRow = audioFileRow(
          rec.date,
          rec.archive,
          { ...clip, status: 'failed', error: `store: ${reason}` },
          undefined,
        );
        let stored = true;
        try {
          changed.audioFiles += await tx.transaction((sp) =>
            upsertById(sp, audioFiles, [failedRow], AUDIO_FILE_UPSERT),
          );
        } catch (again) {
          if (!inputErrorReason(again)) throw again;
          stored = false; // the id itself cannot be a row: reported by the caller
        }
        rejected.push({ id: fileRow.id, reason: `store: ${reason}`, stored });
      }
    }
  });
  return { changed, rejected };
}

/** Of `ids`, those whose clip row belongs to `archive` (the rows are locked by the upsert). */
async function ownedIds(db: Db, archive: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const result = await db.execute<{ id: string }>(
    sql`SELECT id FROM audio_files WHERE archive = ${archive} AND id = ANY(${sql.param(ids)}::text[])`,
  );
  return new Set(result.rows.map((r) => r.id));
}
