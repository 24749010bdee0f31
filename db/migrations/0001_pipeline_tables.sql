CREATE TABLE "audio_files" (
	"id" text PRIMARY KEY NOT NULL,
	"date" date NOT NULL,
	"archive" text NOT NULL,
	"source_name" text,
	"status" text NOT NULL,
	"error" text,
	"mp3_path" text,
	"mp3_bytes" bigint,
	"opus_path" text,
	"opus_bytes" bigint,
	"storage_uri" text,
	"duration_s" double precision,
	"sha256" text,
	"has_metadata" boolean DEFAULT false NOT NULL,
	"create_time" timestamp with time zone,
	"description" text,
	"hashtags" text[],
	"mentions" text[],
	"is_ad" boolean,
	"video_duration" integer,
	"music_id" text,
	"music_title" text,
	"music_author_name" text,
	"music_original" boolean,
	"region" text,
	"source_query" text,
	"collected_at" timestamp with time zone,
	"raw" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audio_files_status_check" CHECK ("audio_files"."status" IN ('pending', 'converted', 'transcribed', 'stored', 'uploaded', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "audio_metadata" (
	"id" text PRIMARY KEY NOT NULL,
	"author_id" text,
	"author_unique_id" text,
	"author_nickname" text,
	"author_verified" boolean,
	"author_follower_count" bigint,
	"author_following_count" bigint,
	"author_heart_count" bigint,
	"author_video_count" bigint,
	"play_count" bigint,
	"digg_count" bigint,
	"share_count" bigint,
	"comment_count" bigint,
	"collect_count" bigint,
	"location_created" text,
	"poi_id" text,
	"poi_name" text,
	"poi_address" text,
	"poi_city" text,
	"poi_province" text,
	"poi_country" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "processing_queue" (
	"date" date NOT NULL,
	"archive" text DEFAULT '' NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"workflow_id" text,
	"run_id" text,
	"files_total" integer DEFAULT 0 NOT NULL,
	"files_done" integer DEFAULT 0 NOT NULL,
	"files_failed" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "processing_queue_pkey" PRIMARY KEY("date","archive"),
	CONSTRAINT "processing_queue_status_check" CHECK ("processing_queue"."status" IN ('pending', 'running', 'completed', 'completed_with_errors', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "transcripts" (
	"id" text PRIMARY KEY NOT NULL,
	"model" text NOT NULL,
	"language" text,
	"language_prob" double precision,
	"text" text NOT NULL,
	"no_speech" boolean DEFAULT false NOT NULL,
	"duration_s" double precision,
	"segments" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"timings" jsonb,
	"tsv" "tsvector" GENERATED ALWAYS AS (to_tsvector(audio_pipeline_ts_config("language"), coalesce("text", '')) || to_tsvector('pg_catalog.simple'::regconfig, coalesce("text", ''))) STORED,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audio_metadata" ADD CONSTRAINT "audio_metadata_id_audio_files_id_fk" FOREIGN KEY ("id") REFERENCES "public"."audio_files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transcripts" ADD CONSTRAINT "transcripts_id_audio_files_id_fk" FOREIGN KEY ("id") REFERENCES "public"."audio_files"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audio_files_date_archive_id_idx" ON "audio_files" USING btree ("date","archive","id");--> statement-breakpoint
CREATE INDEX "audio_files_status_idx" ON "audio_files" USING btree ("status");--> statement-breakpoint
CREATE INDEX "processing_queue_pending_dates_idx" ON "processing_queue" USING btree ("status","date") WHERE "processing_queue"."archive" = '';--> statement-breakpoint
CREATE INDEX "transcripts_tsv_idx" ON "transcripts" USING gin ("tsv");--> statement-breakpoint
CREATE INDEX "transcripts_language_idx" ON "transcripts" USING btree ("language");