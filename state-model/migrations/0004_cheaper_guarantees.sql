-- The same guarantees as 0001/0002 at a lower cost per ingested row (ADR 0012).

-- 1. Recorded time is the store's: a row enters recorded from now() until further notice and leaves
--    "current" only through demesne_supersede, at now(). The recorder may insert only the fact's own columns,
--    and the statement check below refuses any other recorded times, whoever inserts.
REVOKE INSERT ON fact FROM demesne_recorder;
GRANT INSERT (subject, attribute, value_key, value, valid_from, valid_to, batch, actor, reason) ON fact TO demesne_recorder;

-- 2. Recorded time never runs backwards across commits. now() is when a transaction began, so a writer that
--    began before another one committed must not write after it: every INSERT and UPDATE statement on fact
--    ticks this clock, which refuses to move back (the writer runs the batch again).
CREATE TABLE demesne_clock (
  id   boolean PRIMARY KEY DEFAULT true CHECK (id),
  last timestamptz NOT NULL
);
INSERT INTO demesne_clock (last) VALUES ('-infinity');
CREATE FUNCTION demesne_clock_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.last >= OLD.last AND NEW.id = OLD.id THEN RETURN NEW; END IF;
  RAISE EXCEPTION 'demesne: % on demesne_clock is refused: recorded time only moves forward', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER demesne_clock_guard BEFORE UPDATE OR DELETE ON demesne_clock FOR EACH ROW EXECUTE FUNCTION demesne_clock_guard();
CREATE TRIGGER demesne_clock_no_truncate BEFORE TRUNCATE ON demesne_clock FOR EACH STATEMENT EXECUTE FUNCTION demesne_refuse();
CREATE FUNCTION demesne_tick() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE demesne_clock SET last = now() WHERE last <= now();
  IF NOT FOUND THEN
    RAISE EXCEPTION 'demesne: a later recording committed after this transaction began; run it again'
      USING ERRCODE = 'serialization_failure';
  END IF;
END $$;
REVOKE ALL ON FUNCTION demesne_tick() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION demesne_tick() TO demesne_recorder;

-- Every UPDATE statement on fact (demesne_supersede's, or anyone's) ticks it too.
CREATE FUNCTION demesne_fact_update_tick() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM public.demesne_tick();
  RETURN NULL;
END $$;
CREATE TRIGGER fact_update_tick BEFORE UPDATE ON fact FOR EACH STATEMENT EXECUTE FUNCTION demesne_fact_update_tick();

-- 3. No two current versions of one fact overlap in valid time. Because of (1) and (2), the rows known at
--    any recorded instant were current together when that instant was now, so the three-way constraint of
--    0001 follows from this one; closing a row no longer adds a GiST entry or an overlap check, and the index
--    holds current rows only.
ALTER TABLE fact DROP CONSTRAINT fact_fact_key_valid_recorded_excl;
ALTER TABLE fact ADD CONSTRAINT fact_current_no_overlap
  EXCLUDE USING gist (fact_key WITH =, valid WITH &&) WHERE (recorded_to = 'infinity');

-- Checked once per INSERT statement over the inserted rows: the clock, recorded times, and that every fact
-- names a vertex (instead of a row-by-row foreign key; vertices can never be deleted or renamed, 0002, so
-- nothing needs a lock). Tables are named with their schema and the path pinned: a temporary table called
-- vertex must not stand in for the real one.
ALTER TABLE fact DROP CONSTRAINT fact_subject_fkey;
CREATE FUNCTION demesne_fact_insert_check() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE bad record;
BEGIN
  PERFORM public.demesne_tick();
  SELECT a.subject, EXISTS (SELECT 1 FROM public.vertex v WHERE v.id = a.subject) AS known INTO bad
    FROM added a
   WHERE a.recorded_from <> now() OR a.recorded_to <> 'infinity'
      OR NOT EXISTS (SELECT 1 FROM public.vertex v WHERE v.id = a.subject)
   LIMIT 1;
  IF FOUND AND NOT bad.known THEN
    RAISE EXCEPTION 'demesne: a fact names subject %, which is not a vertex', bad.subject USING ERRCODE = 'foreign_key_violation';
  ELSIF FOUND THEN
    RAISE EXCEPTION 'demesne: a fact enters the store recorded from now until further notice, not at other times'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER fact_insert_check AFTER INSERT ON fact REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION demesne_fact_insert_check();

-- 4. The update guard compares columns directly (two to_jsonb conversions per closed row were most of the
--    cost of closing), and a fact is closed at now() only, as demesne_supersede does.
--    test/state-model/store.test.ts checks that this list names every stored column.
CREATE OR REPLACE FUNCTION demesne_fact_update_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF OLD.recorded_to = 'infinity' AND NEW.recorded_to = now()
     AND (NEW.fact_id, NEW.subject, NEW.attribute, NEW.value_key, NEW.value, NEW.valid_from, NEW.valid_to,
          NEW.recorded_from, NEW.batch, NEW.actor, NEW.reason)
         IS NOT DISTINCT FROM
         (OLD.fact_id, OLD.subject, OLD.attribute, OLD.value_key, OLD.value, OLD.valid_from, OLD.valid_to,
          OLD.recorded_from, OLD.batch, OLD.actor, OLD.reason) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'demesne: UPDATE on fact is refused: only closing recorded_to of a current fact is allowed'
    USING ERRCODE = 'insufficient_privilege';
END $$;

-- 5. Statistics only when they are stale: the table grew by a fifth since the last ANALYZE, or never had one
--    (the planner scales row estimates by the current size in between, so only distributions go stale). The
--    writer asks after every batch that added rows.
DROP FUNCTION demesne_analyze();
CREATE FUNCTION demesne_analyze() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE stale boolean;
BEGIN
  SELECT c.reltuples < 0 OR pg_relation_size(c.oid) / current_setting('block_size')::bigint > 1.2 * c.relpages + 8
    INTO stale FROM pg_class c WHERE c.oid = 'fact'::regclass;
  IF stale THEN
    ANALYZE fact;
    ANALYZE vertex;
  END IF;
  RETURN stale;
END $$;
REVOKE ALL ON FUNCTION demesne_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION demesne_analyze() TO demesne_recorder;

-- 6. The exclusion index holds exactly the current rows by fact identity, so it also answers "what is known
--    now of these facts"; the separate b-tree on current rows was a second copy of it. demesne_fact_key is
--    fact.fact_key's expression for a lookup (the column cannot call it: PostgreSQL 15 cannot change a
--    generated column's expression); a test checks that the two agree.
DROP INDEX fact_current;
CREATE FUNCTION demesne_fact_key(subject text, attribute text, value_key text) RETURNS uuid
  LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN md5(subject || E'\x1f' || attribute || E'\x1f' || value_key)::uuid;
GRANT EXECUTE ON FUNCTION demesne_fact_key(text, text, text) TO demesne_recorder;
