-- Repetition tiers of a transcript's words, for the search (db/queries/search-transcripts.ts).
-- ts_rank(tsv, query) with its default normalisation is the mean over the query's distinct lexemes
-- of an increasing function of how many positions tsv holds for each; so the best-ranked matches
-- of a common word are the transcripts that repeat it most. tsv is the text's stems in its
-- language followed by its plain words ('simple'); for every lexeme the two hold at n = 2, 3, 4,
-- 8, 16, 32 or 64 positions or more, this emits 'lexeme#2', 'lexeme#3', … up to n, and a GIN
-- index on the result finds "the transcripts that say this word at least 8 times" without
-- reading the word's other matches. One exception: a word whose stem is the word itself ('dog')
-- is in both halves, at two positions each time it is said, so 'dog#2' would be every transcript
-- that says "dog" — 43 tokens per transcript for nothing; such a lexeme gets '#2' from 3
-- positions on. So outside tier 2 every lexeme is at 1 position, or 2 if in both halves. A
-- lexeme holding '#' itself can only add candidates, which the search checks against tsv anyway.
CREATE OR REPLACE FUNCTION audio_pipeline_tf_tiers(stemmed tsvector, plain tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_to_tsvector(array_agg(coalesce(s.lexeme, p.lexeme) || '#' || t.tier)), ''::tsvector)
  FROM unnest(stemmed) AS s
  FULL JOIN unnest(plain) AS p ON s.lexeme = p.lexeme,
  LATERAL (SELECT coalesce(cardinality(s.positions), 0) + coalesce(cardinality(p.positions), 0) AS n,
                  s.lexeme IS NOT NULL AND p.lexeme IS NOT NULL AS in_both) AS c,
  unnest('{2,3,4,8,16,32,64}'::int[]) AS t(tier)
  WHERE c.n >= t.tier AND (t.tier > 2 OR c.n >= 3 OR NOT c.in_both)
$$;--> statement-breakpoint
ALTER TABLE "transcripts" ADD COLUMN "tsv_tiers" "tsvector" GENERATED ALWAYS AS (audio_pipeline_tf_tiers(to_tsvector(audio_pipeline_ts_config("language"), coalesce("text", '')), to_tsvector('pg_catalog.simple'::regconfig, coalesce("text", '')))) STORED;--> statement-breakpoint
CREATE INDEX "transcripts_tsv_tiers_idx" ON "transcripts" USING gin ("tsv_tiers");