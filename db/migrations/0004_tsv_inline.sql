-- transcripts.tsv kept in the row (compressed) rather than in the TOAST table: the search reads
-- the tsvector of every candidate it ranks and of every row whose phrase it checks, and a value
-- moved out of line costs a lookup in the TOAST table's index and a second heap page each time.
-- Measured on 3,000 random rows of the bench corpus: 4.8 instead of 6.7 µs per row read; a
-- phrase checked over 200,000 rows in 96–102 instead of 243–310 ms (bench/README.md, "search").
-- PostgreSQL still moves it out of line as a last resort for a row too large for a page.
-- Catalog only: rows stored before keep their layout until rewritten (VACUUM FULL transcripts).
ALTER TABLE "transcripts" ALTER COLUMN "tsv" SET STORAGE MAIN;
