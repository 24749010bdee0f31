/**
 * The database schema (DESIGN.md §4), as code: drizzle-kit generates db/migrations from it.
 *
 * Keys: every clip table is keyed by the TikTok video id, so re-running a date, an archive or
 * the store activity upserts the same rows. int64 counters stay decimal strings in TypeScript
 * (`int8String`) because TikTok ids and counts can exceed 2^53.
 *
 * This file imports nothing but drizzle-orm and lib/statuses.ts (which imports nothing):
 * drizzle-kit loads it with its own bundler.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  customType,
  date,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { CLIP_STATUSES, QUEUE_STATUSES } from '../lib/statuses.ts';

/** PostgreSQL bigint carried as a decimal string: exact beyond 2^53, no BigInt in JSON. */
const int8String = customType<{ data: string; driverData: string }>({
  dataType: () => 'bigint',
});

/** Full-text document; filled by PostgreSQL (generated column), never by us. */
const tsvector = customType<{ data: string; driverData: string }>({
  dataType: () => 'tsvector',
});

const createdAt = () =>
  timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow();
const updatedAt = () =>
  timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow();

/** `IN ('a', 'b', …)` for a check constraint, from a status list of lib/statuses.ts. */
const oneOf = (values: readonly string[]) => sql.raw(`IN (${values.map((v) => `'${v}'`).join(', ')})`);

export const audioFiles = pgTable(
  'audio_files',
  {
    id: text('id').primaryKey(),
    date: date('date', { mode: 'string' }).notNull(),
    archive: text('archive').notNull(),
    sourceName: text('source_name'),
    status: text('status', { enum: CLIP_STATUSES }).notNull(),
    error: text('error'),
    mp3Path: text('mp3_path'),
    mp3Bytes: bigint('mp3_bytes', { mode: 'number' }),
    opusPath: text('opus_path'),
    opusBytes: bigint('opus_bytes', { mode: 'number' }),
    storageUri: text('storage_uri'),
    durationS: doublePrecision('duration_s'),
    sha256: text('sha256'),
    hasMetadata: boolean('has_metadata').notNull().default(false),
    // Core TikTok fields as typed columns; everything else (and these too) lives in `raw`.
    createTime: timestamp('create_time', { withTimezone: true, mode: 'string' }),
    description: text('description'),
    hashtags: text('hashtags').array(),
    mentions: text('mentions').array(),
    isAd: boolean('is_ad'),
    videoDuration: integer('video_duration'),
    musicId: text('music_id'),
    musicTitle: text('music_title'),
    musicAuthorName: text('music_author_name'),
    musicOriginal: boolean('music_original'),
    region: text('region'),
    sourceQuery: text('source_query'),
    collectedAt: timestamp('collected_at', { withTimezone: true, mode: 'string' }),
    raw: jsonb('raw').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Export, counts and markUploaded all select one date (and archive), ordered by id.
    index('audio_files_date_archive_id_idx').on(t.date, t.archive, t.id),
    index('audio_files_status_idx').on(t.status),
    check('audio_files_status_check', sql`${t.status} ${oneOf(CLIP_STATUSES)}`),
  ],
);

export const audioMetadata = pgTable('audio_metadata', {
  id: text('id')
    .primaryKey()
    .references(() => audioFiles.id, { onDelete: 'cascade' }),
  authorId: text('author_id'),
  authorUniqueId: text('author_unique_id'),
  authorNickname: text('author_nickname'),
  authorVerified: boolean('author_verified'),
  authorFollowerCount: int8String('author_follower_count'),
  authorFollowingCount: int8String('author_following_count'),
  authorHeartCount: int8String('author_heart_count'),
  authorVideoCount: int8String('author_video_count'),
  playCount: int8String('play_count'),
  diggCount: int8String('digg_count'),
  shareCount: int8String('share_count'),
  commentCount: int8String('comment_count'),
  collectCount: int8String('collect_count'),
  locationCreated: text('location_created'),
  poiId: text('poi_id'),
  poiName: text('poi_name'),
  poiAddress: text('poi_address'),
  poiCity: text('poi_city'),
  poiProvince: text('poi_province'),
  poiCountry: text('poi_country'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/**
 * A transcript as a full-text document: stemmed with the clip's language (audio_pipeline_ts_config,
 * migration 0000) AND unstemmed ('simple'), so a search finds a word whatever language the query
 * was parsed in. (A generated column cannot read another, so tsv_tiers repeats the expression.)
 */
const STEMMED = `to_tsvector(audio_pipeline_ts_config("language"), coalesce("text", ''))`;
const PLAIN = `to_tsvector('pg_catalog.simple'::regconfig, coalesce("text", ''))`;
const TRANSCRIPT_TSVECTOR = `${STEMMED} || ${PLAIN}`;

export const transcripts = pgTable(
  'transcripts',
  {
    id: text('id')
      .primaryKey()
      .references(() => audioFiles.id, { onDelete: 'cascade' }),
    model: text('model').notNull(),
    language: text('language'),
    languageProb: doublePrecision('language_prob'),
    text: text('text').notNull(),
    noSpeech: boolean('no_speech').notNull().default(false),
    durationS: doublePrecision('duration_s'),
    segments: jsonb('segments')
      .$type<unknown[]>()
      .notNull()
      .default(sql`'[]'::jsonb`),
    timings: jsonb('timings').$type<Record<string, number>>(),
    // TRANSCRIPT_TSVECTOR: the text as its language's stems and as plain words.
    tsv: tsvector('tsv').generatedAlwaysAs(sql.raw(TRANSCRIPT_TSVECTOR)),
    // The search's own tokens (audio_pipeline_search_tokens, migrations 0004 and 0005), with a small index:
    // - the words a transcript repeats, by how often: 'word#2', 'word#3', … 'word#64' when tsv
    //   holds 'word' at that many positions or more (audio_pipeline_tf_tiers, migrations 0003
    //   and 0004). ts_rank grows with those counts, so the index finds the best-ranked
    //   transcripts of a common word without ranking all of its matches;
    // - a token ('~' and a hash bucket) for each pair of stems said one right after the other
    //   ("best friends": 'best friend'), so that a phrase's matches are found in the index
    //   instead of by reading the positions of every transcript that holds its words
    //   (db/queries/search-transcripts.ts).
    tsvTiers: tsvector('tsv_tiers').generatedAlwaysAs(
      sql.raw(`audio_pipeline_search_tokens(${STEMMED}, ${PLAIN})`),
    ),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('transcripts_tsv_idx').using('gin', t.tsv),
    index('transcripts_tsv_tiers_idx').using('gin', t.tsvTiers),
    index('transcripts_language_idx').on(t.language),
  ],
);

/**
 * One row per date (archive = '') and one per archive of that date. '' rather than NULL for the
 * date row so that (date, archive) can be the primary key and the upsert target.
 */
export const processingQueue = pgTable(
  'processing_queue',
  {
    date: date('date', { mode: 'string' }).notNull(),
    archive: text('archive').notNull().default(''),
    status: text('status', { enum: QUEUE_STATUSES }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    workflowId: text('workflow_id'),
    runId: text('run_id'),
    filesTotal: integer('files_total').notNull().default(0),
    filesDone: integer('files_done').notNull().default(0),
    filesFailed: integer('files_failed').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'string' }),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'string' }),
  },
  (t) => [
    primaryKey({ name: 'processing_queue_pkey', columns: [t.date, t.archive] }),
    // getPending: date rows only, by status, oldest date first.
    index('processing_queue_pending_dates_idx')
      .on(t.status, t.date)
      .where(sql`${t.archive} = ''`),
    check('processing_queue_status_check', sql`${t.status} ${oneOf(QUEUE_STATUSES)}`),
  ],
);

export type AudioFileRow = typeof audioFiles.$inferSelect;
export type AudioFileInsert = typeof audioFiles.$inferInsert;
export type AudioMetadataInsert = typeof audioMetadata.$inferInsert;
export type TranscriptInsert = typeof transcripts.$inferInsert;
export type QueueRow = typeof processingQueue.$inferSelect;
