-- Text-search configuration for a transcript's language (a Whisper code such as 'en', 'de',
-- 'pt-BR', or a configuration name such as 'english'). transcripts.tsv is a generated column,
-- and a generated column may only call IMMUTABLE functions. The lookup in pg_ts_config reads
-- the catalog, which a truly immutable function may not; but the only configurations looked
-- up are the built-in pg_catalog ones, which do not change while a server runs, so IMMUTABLE
-- holds. A catalog lookup (rather than a regconfig literal, which fails at CREATE time when
-- missing) keeps this function valid on every server version: a configuration missing there
-- (estonian before PostgreSQL 18) falls back to simple.
CREATE OR REPLACE FUNCTION audio_pipeline_ts_config(lang text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(
    (SELECT c.oid::regconfig FROM pg_catalog.pg_ts_config c
     WHERE c.cfgnamespace = 'pg_catalog'::regnamespace AND c.cfgname = (
      SELECT CASE code
        WHEN 'ar' THEN 'arabic'
        WHEN 'hy' THEN 'armenian'
        WHEN 'eu' THEN 'basque'
        WHEN 'ca' THEN 'catalan'
        WHEN 'da' THEN 'danish'
        WHEN 'nl' THEN 'dutch'
        WHEN 'en' THEN 'english'
        WHEN 'et' THEN 'estonian'
        WHEN 'fi' THEN 'finnish'
        WHEN 'fr' THEN 'french'
        WHEN 'de' THEN 'german'
        WHEN 'el' THEN 'greek'
        WHEN 'hi' THEN 'hindi'
        WHEN 'hu' THEN 'hungarian'
        WHEN 'id' THEN 'indonesian'
        WHEN 'ga' THEN 'irish'
        WHEN 'it' THEN 'italian'
        WHEN 'lt' THEN 'lithuanian'
        WHEN 'ne' THEN 'nepali'
        WHEN 'no' THEN 'norwegian'
        WHEN 'nb' THEN 'norwegian'
        WHEN 'nn' THEN 'norwegian'
        WHEN 'pt' THEN 'portuguese'
        WHEN 'ro' THEN 'romanian'
        WHEN 'ru' THEN 'russian'
        WHEN 'sr' THEN 'serbian'
        WHEN 'es' THEN 'spanish'
        WHEN 'sv' THEN 'swedish'
        WHEN 'ta' THEN 'tamil'
        WHEN 'tr' THEN 'turkish'
        WHEN 'yi' THEN 'yiddish'
        -- A full configuration name ('english') is taken as is when it exists.
        ELSE CASE WHEN code ~ '^[a-z]{4,}$' THEN code ELSE 'simple' END
      END
      FROM (SELECT lower(split_part(split_part(btrim(coalesce(lang, '')), '-', 1), '_', 1)) AS code) AS normalised
    )),
    'pg_catalog.simple'::regconfig
  )
$$;
--> statement-breakpoint
-- The search side: one tsquery that ORs the query as parsed by every built-in configuration, so
-- that one GIN index scan finds candidates whatever their language; the exact per-row check
-- (the row's own configuration or simple) is done by the search query itself. Identical
-- parses (most configurations leave most words alone) are ORed once.
CREATE OR REPLACE FUNCTION audio_pipeline_any_language_tsquery(q text) RETURNS tsquery
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  result tsquery;
  part tsquery;
BEGIN
  FOR part IN
    SELECT DISTINCT websearch_to_tsquery(c.oid::regconfig, q)
    FROM pg_catalog.pg_ts_config c
    WHERE c.cfgnamespace = 'pg_catalog'::regnamespace
  LOOP
    result := CASE WHEN result IS NULL THEN part ELSE result || part END;
  END LOOP;
  RETURN coalesce(result, ''::tsquery);
END
$$;
