-- Less work per fact row, with every guarantee as it was (adr/0027).
--
-- 1. `recorded` (the recorded-time range) served only the three-way exclusion constraint of 0001, which 0004
--    replaced; no query reads it (asOfWhere compares the plain columns). Yet it was computed for every row
--    inserted and again for every row closed (an UPDATE recomputes stored generated columns), and every scan
--    of the fleet walked past its bytes. New rows no longer carry it; rows already stored keep their bytes
--    until PostgreSQL rewrites them.
ALTER TABLE fact DROP COLUMN recorded;

-- 2. ANALYZE, which the writer asks for whenever fact has grown by a fifth (0004), samples 300 rows per unit
--    of the largest statistics target among fact's columns: 30,000 rows at the default of 100, and it builds
--    histograms of the jsonb values and the validity ranges, which no plan ever filters on. The columns that
--    queries filter or join on keep 25 (a 7,500-row sample; subjects, attributes and open ends are a few
--    hundred distinct values or one common one, which that sample sees); the others keep none.
ALTER TABLE fact
  ALTER COLUMN value SET STATISTICS 0,
  ALTER COLUMN valid SET STATISTICS 0,
  ALTER COLUMN batch SET STATISTICS 0,
  ALTER COLUMN actor SET STATISTICS 0,
  ALTER COLUMN reason SET STATISTICS 0,
  ALTER COLUMN fact_id SET STATISTICS 25,
  ALTER COLUMN subject SET STATISTICS 25,
  ALTER COLUMN attribute SET STATISTICS 25,
  ALTER COLUMN value_key SET STATISTICS 25,
  ALTER COLUMN valid_from SET STATISTICS 25,
  ALTER COLUMN valid_to SET STATISTICS 25,
  ALTER COLUMN recorded_from SET STATISTICS 25,
  ALTER COLUMN recorded_to SET STATISTICS 25,
  ALTER COLUMN fact_key SET STATISTICS 25;
