-- The search's tokens, computed faster. Only function bodies are replaced: the table is not
-- rewritten, and rows stored before keep their tokens, which are what these compute (tested in
-- test/integration/db.test.ts on six configurations) — except where the stems' last position
-- plus the plain words' last reaches tsvector's 16,383 (some 8,000 words, fewer with hyphenated
-- ones: tsv's second half clamps there): a word's count is now its positions in tsv, where 0004
-- added up both halves' and could put a transcript in a tier above tsv's count. Both keep what
-- the search relies on: a transcript outside tier n holds the word at fewer than n positions of
-- tsv. Measured (bench/README.md, "store"): inserting 2,000 transcripts into a copy of the table
-- without its indexes took 1.0–1.4 s on PostgreSQL 15 and 0.6 s after this; 0.73 s and 0.66 s on 18.
-- Also: the generated column's functions now use built-in functions only, so pg_restore, which
-- runs with search_path = '', can fill the table (0004's called audio_pipeline_* functions
-- without their schema there, and a restore lost every transcript).
--
-- Why it was slow. audio_pipeline_search_tokens was a SQL function whose body names `stemmed`
-- twice: PostgreSQL does not inline such a function when the argument is expensive (a
-- to_tsvector), so every row ran it, and the two SQL functions under it, through the SQL-function
-- executor, which before PostgreSQL 18 sets up each one's statement for every call. A PL/pgSQL
-- function keeps its statement's plan for the session.
--
-- The tiers, in one pass. tf_tiers joined the stems to the plain words (FULL JOIN on the lexeme)
-- to get each lexeme's number of positions in tsv and whether it is in both halves. The stems
-- weighted 'A' followed by the plain words (weight 'D', to_tsvector's) is one vector where
-- lexemes in both halves hold both weights and all their positions; width_bucket counts the
-- tiers a count reaches. The rule is unchanged: a lexeme in both halves at two positions (said
-- once, its stem being itself) gets no '#2'.
CREATE OR REPLACE FUNCTION audio_pipeline_tf_tiers(stemmed tsvector, plain tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_to_tsvector(array_agg(u.lexeme || '#' || t.tier)), ''::tsvector)
  FROM unnest(setweight(stemmed, 'A') || plain) AS u,
  LATERAL unnest(('{2,3,4,6,8,16,32,64}'::int[])[
      CASE WHEN cardinality(u.positions) < 3 AND 'A' = ANY (u.weights) AND 'D' = ANY (u.weights) THEN 2 ELSE 1 END
      : width_bucket(cardinality(u.positions), '{2,3,4,6,8,16,32,64}'::int[])]) AS t(tier)
  WHERE cardinality(u.positions) >= 2
$$;--> statement-breakpoint
-- audio_pipeline_tf_tiers(stemmed, plain) || audio_pipeline_word_pairs(stemmed), written out:
-- calling the two from PL/pgSQL measured slower on PostgreSQL 18 than this, one statement
-- (test/integration/db.test.ts checks that the two forms agree).
CREATE OR REPLACE FUNCTION audio_pipeline_search_tokens(stemmed tsvector, plain tsvector) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
  RETURN (
    SELECT coalesce(array_to_tsvector(array_agg(u.lexeme || '#' || t.tier)), ''::tsvector)
    FROM unnest(setweight(stemmed, 'A') || plain) AS u,
    LATERAL unnest(('{2,3,4,6,8,16,32,64}'::int[])[
        CASE WHEN cardinality(u.positions) < 3 AND 'A' = ANY (u.weights) AND 'D' = ANY (u.weights) THEN 2 ELSE 1 END
        : width_bucket(cardinality(u.positions), '{2,3,4,6,8,16,32,64}'::int[])]) AS t(tier)
    WHERE cardinality(u.positions) >= 2
  ) || (
    -- audio_pipeline_pair_token(a.lexeme || ' ' || b.lexeme), written out: pg_restore (and a
    -- logical-replication subscriber) fills the table with search_path = '', where a call
    -- without its schema is not found and the COPY of every transcript fails.
    SELECT coalesce(array_to_tsvector(array_agg(
             '~' || (('x' || substr(md5(a.lexeme || ' ' || b.lexeme), 1, 8))::bit(32)::int >> 14 & 262143)::text
           )), ''::tsvector)
    FROM (SELECT u.lexeme, unnest(u.positions) AS pos FROM unnest(stemmed) AS u) AS a
    JOIN (SELECT u.lexeme, unnest(u.positions) AS pos FROM unnest(stemmed) AS u) AS b ON b.pos = a.pos + 1
  );
END
$$;
