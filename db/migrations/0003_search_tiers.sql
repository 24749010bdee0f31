-- Repetition tiers of a transcript's words, for the search (db/queries/search-transcripts.ts).
-- ts_rank(tsv, query) with its default normalisation is the mean over the query's distinct lexemes
-- of an increasing function of how many positions tsv holds for each; so the best-ranked matches
-- of a common word are the transcripts that repeat it most. For every lexeme tsv holds at 3, 4,
-- 8, 16, 32 or 64 positions or more, this emits 'lexeme#3', 'lexeme#4', … up to that count, and a
-- GIN index on the result finds "the transcripts that say this word at least 8 times" without
-- reading the word's other matches. No tier 2: a word whose stem is the word itself ('dog') is
-- at two positions of tsv for each time it is said (its language's parse and the simple one), so
-- 'dog#2' would be every transcript that says "dog" — 43 tokens per transcript for nothing. A
-- lexeme holding '#' itself can only add candidates, which the search checks against tsv anyway.
CREATE OR REPLACE FUNCTION audio_pipeline_tf_tiers(doc tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_to_tsvector(array_agg(u.lexeme || '#' || ('{3,4,8,16,32,64}'::int[])[k])), ''::tsvector)
  FROM unnest(doc) AS u,
       generate_series(1, width_bucket(cardinality(u.positions), '{3,4,8,16,32,64}'::int[])) AS k
$$;--> statement-breakpoint
ALTER TABLE "transcripts" ADD COLUMN "tsv_tiers" "tsvector" GENERATED ALWAYS AS (audio_pipeline_tf_tiers(to_tsvector(audio_pipeline_ts_config("language"), coalesce("text", '')) || to_tsvector('pg_catalog.simple'::regconfig, coalesce("text", '')))) STORED;--> statement-breakpoint
CREATE INDEX "transcripts_tsv_tiers_idx" ON "transcripts" USING gin ("tsv_tiers");