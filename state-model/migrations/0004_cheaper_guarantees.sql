-- The same guarantees as 0001/0002 at a lower cost per ingested row (ADR 0012).

-- 1. The recorder cannot choose recorded time: a row enters with recorded_from = now() and
--    recorded_to = 'infinity' (the defaults), and leaves "current" only through demesne_supersede.
REVOKE INSERT ON fact FROM demesne_recorder;
GRANT INSERT (subject, attribute, value_key, value, valid_from, valid_to, batch, actor, reason) ON fact TO demesne_recorder;

-- 2. No two current versions of one fact overlap in valid time. Because of (1), the rows known at any
--    recorded instant were current together when it was now, so the three-way constraint of 0001 follows
--    from this one; closing a row no longer adds a GiST entry or an overlap check, and the index holds
--    current rows only.
ALTER TABLE fact DROP CONSTRAINT fact_fact_key_valid_recorded_excl;
ALTER TABLE fact ADD CONSTRAINT fact_current_no_overlap
  EXCLUDE USING gist (fact_key WITH =, valid WITH &&) WHERE (recorded_to = 'infinity');

-- 3. Every fact names a vertex: checked once per INSERT statement over the inserted rows instead of a
--    row-by-row foreign key. Vertices can never be deleted or renamed (0002), so nothing needs a lock.
ALTER TABLE fact DROP CONSTRAINT fact_subject_fkey;
CREATE FUNCTION demesne_fact_subjects_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE missing text;
BEGIN
  SELECT a.subject INTO missing FROM added a WHERE NOT EXISTS (SELECT 1 FROM vertex v WHERE v.id = a.subject) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'demesne: a fact names subject %, which is not a vertex', missing USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER fact_subjects_exist AFTER INSERT ON fact REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION demesne_fact_subjects_exist();

-- 4. The update guard compares columns directly (two to_jsonb conversions per closed row were most of the
--    cost of closing). test/state-model/store.test.ts checks that this list names every stored column.
CREATE OR REPLACE FUNCTION demesne_fact_update_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.recorded_to = 'infinity' AND NEW.recorded_to <> 'infinity'
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
--    (the planner scales row estimates by the current size in between, so only distributions go stale).
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
