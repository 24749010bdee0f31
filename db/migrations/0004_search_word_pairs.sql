-- The search's tokens, second version (db/queries/search-transcripts.ts; bench/README.md,
-- "search"): tier 6 between 4 and 8, and word pairs for phrases.
--
-- Tier 6. A word whose stem is itself is at two positions of tsv each time it is said, so tiers
-- 2–4 all meant "said twice" and 8 "four times": the transcripts that say two common words twice
-- each (1,000–2,000 of a million for two words in 20% of them) were ranked one by one because
-- "three times" had no tier. Now it has: 'word#6'.
--
-- Word pairs. tsv's GIN index holds no positions, so a phrase ("best friend") was checked in
-- every transcript that holds its words (4,381 read for its 54 matches in a million, ~20 ms).
-- Now for every two stems of the text's language said one right after the other (a stop word
-- between them puts a gap in the positions and breaks the pair) the column holds a token for the
-- pair: '~' and one of 2^18 buckets of the md5 of 'stem stem' (audio_pipeline_pair_token). The
-- index then finds the transcripts that hold all of a phrase's pairs — and ~100 in a million that
-- hold the same buckets by chance, which the check against tsv drops. (A transcript can also
-- match a phrase in tsv's plain words, which have no pairs here: the search uses the pairs only
-- when that cannot find more; pairTokens in db/queries/search-transcripts.ts says when.) Buckets, not the pairs
-- themselves: most pairs are rare, and an index of ~20 million distinct pairs took 1 GB at a
-- million transcripts (tsv's: 227 MB); md5, not hashtext, because the buckets are stored and must
-- be the same in every PostgreSQL version. ~26 pairs per transcript of ~90 words.
CREATE OR REPLACE FUNCTION audio_pipeline_pair_token(pair text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT '~' || (('x' || substr(md5(pair), 1, 8))::bit(32)::int >> 14 & 262143)::text
$$;--> statement-breakpoint
CREATE OR REPLACE FUNCTION audio_pipeline_word_pairs(stemmed tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_to_tsvector(array_agg(DISTINCT audio_pipeline_pair_token(a.lexeme || ' ' || b.lexeme))), ''::tsvector)
  FROM (SELECT u.lexeme, unnest(u.positions) AS pos FROM unnest(stemmed) AS u) AS a
  -- a join on the positions, not lead() over them: were two lexemes at one position (a
  -- dictionary that gives several), each would pair with the next word
  JOIN (SELECT u.lexeme, unnest(u.positions) AS pos FROM unnest(stemmed) AS u) AS b ON b.pos = a.pos + 1
$$;--> statement-breakpoint
CREATE OR REPLACE FUNCTION audio_pipeline_tf_tiers(stemmed tsvector, plain tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_to_tsvector(array_agg(coalesce(s.lexeme, p.lexeme) || '#' || t.tier)), ''::tsvector)
  FROM unnest(stemmed) AS s
  FULL JOIN unnest(plain) AS p ON s.lexeme = p.lexeme,
  LATERAL (SELECT coalesce(cardinality(s.positions), 0) + coalesce(cardinality(p.positions), 0) AS n,
                  s.lexeme IS NOT NULL AND p.lexeme IS NOT NULL AS in_both) AS c,
  unnest('{2,3,4,6,8,16,32,64}'::int[]) AS t(tier)
  WHERE c.n >= t.tier AND (t.tier > 2 OR c.n >= 3 OR NOT c.in_both)
$$;--> statement-breakpoint
CREATE OR REPLACE FUNCTION audio_pipeline_search_tokens(stemmed tsvector, plain tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT audio_pipeline_tf_tiers(stemmed, plain) || audio_pipeline_word_pairs(stemmed)
$$;--> statement-breakpoint
-- A stored generated column's expression cannot be changed before PostgreSQL 17, nor are stored
-- values recomputed when a function changes: the column is made again, which rewrites the table
-- (a million transcripts: minutes).
ALTER TABLE "transcripts" DROP COLUMN "tsv_tiers";--> statement-breakpoint
ALTER TABLE "transcripts" ADD COLUMN "tsv_tiers" "tsvector" GENERATED ALWAYS AS (audio_pipeline_search_tokens(to_tsvector(audio_pipeline_ts_config("language"), coalesce("text", '')), to_tsvector('pg_catalog.simple'::regconfig, coalesce("text", '')))) STORED;--> statement-breakpoint
CREATE INDEX "transcripts_tsv_tiers_idx" ON "transcripts" USING gin ("tsv_tiers");
