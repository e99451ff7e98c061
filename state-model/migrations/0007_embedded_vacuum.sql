-- The embedded store has no autovacuum: every closed version of a fact leaves a dead tuple behind, and every
-- scan of the whole fleet walks through them and checks each tuple's visibility one by one (adr/0025). The
-- embedded store's own connection (the recorder) vacuums fact when autovacuum's thresholds say so; MAINTAIN
-- (PostgreSQL 17) lets it VACUUM, ANALYZE, REINDEX, CLUSTER or LOCK the table, and changes no row of it.
-- A PostgreSQL server keeps its autovacuum, and its recorder gets no such grant.
DO $$
BEGIN
  IF version() LIKE '%PGlite%' THEN
    EXECUTE 'GRANT MAINTAIN ON fact TO demesne_recorder';
  END IF;
END $$;
