-- The store refuses to forget. Only one UPDATE exists: closing a current fact's recorded_to, and only
-- through demesne_supersede (SECURITY DEFINER); the recorder role holds SELECT and INSERT and nothing else.
CREATE FUNCTION demesne_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'demesne: % on % is refused: the store is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION demesne_fact_update_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Generated columns (fact_key, valid, recorded) are not computed yet in a BEFORE trigger: compare the rest.
  IF OLD.recorded_to = 'infinity' AND NEW.recorded_to <> 'infinity'
     AND (to_jsonb(NEW) - 'recorded_to' - 'recorded' - 'valid' - 'fact_key') = (to_jsonb(OLD) - 'recorded_to' - 'recorded' - 'valid' - 'fact_key') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'demesne: UPDATE on fact is refused: only closing recorded_to of a current fact is allowed'
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER fact_update_guard BEFORE UPDATE ON fact FOR EACH ROW EXECUTE FUNCTION demesne_fact_update_guard();
CREATE TRIGGER fact_no_delete BEFORE DELETE ON fact FOR EACH ROW EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER fact_no_truncate BEFORE TRUNCATE ON fact FOR EACH STATEMENT EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER vertex_no_change BEFORE UPDATE OR DELETE ON vertex FOR EACH ROW EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER vertex_no_truncate BEFORE TRUNCATE ON vertex FOR EACH STATEMENT EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER batch_no_change BEFORE UPDATE OR DELETE ON batch FOR EACH ROW EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER batch_no_truncate BEFORE TRUNCATE ON batch FOR EACH STATEMENT EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER erasure_no_change BEFORE UPDATE OR DELETE ON erasure FOR EACH ROW EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER installation_no_change BEFORE UPDATE OR DELETE ON installation FOR EACH ROW EXECUTE FUNCTION demesne_refuse();
-- subject_key: rows may be deleted, but only by demesne_erase (the trigger checks a transaction-local flag).
CREATE FUNCTION demesne_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('demesne.erasing', true) = 'on' THEN RETURN OLD; END IF;
  RAISE EXCEPTION 'demesne: % on subject_key is refused outside erasure', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER subject_key_guard BEFORE UPDATE OR DELETE ON subject_key FOR EACH ROW EXECUTE FUNCTION demesne_key_guard();
CREATE TRIGGER subject_key_no_truncate BEFORE TRUNCATE ON subject_key FOR EACH STATEMENT EXECUTE FUNCTION demesne_refuse();

CREATE FUNCTION demesne_supersede(p_fact_ids bigint[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE n integer;
BEGIN
  IF EXISTS (SELECT 1 FROM fact WHERE fact_id = ANY (p_fact_ids) AND recorded_from >= now()) THEN
    RAISE EXCEPTION 'demesne: a fact recorded in this transaction cannot be superseded in it';
  END IF;
  UPDATE fact SET recorded_to = now() WHERE fact_id = ANY (p_fact_ids) AND recorded_to = 'infinity';
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n <> cardinality(p_fact_ids) THEN
    RAISE EXCEPTION 'demesne: % of % facts were no longer current', cardinality(p_fact_ids) - n, cardinality(p_fact_ids)
      USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN n;
END $$;

CREATE FUNCTION demesne_erase(p_subject_ref text, p_actor text, p_reason text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE n integer;
BEGIN
  IF coalesce(p_actor, '') = '' OR coalesce(p_reason, '') = '' THEN
    RAISE EXCEPTION 'demesne: erasure needs an actor and a reason';
  END IF;
  PERFORM set_config('demesne.erasing', 'on', true);
  DELETE FROM subject_key WHERE subject_ref = p_subject_ref;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('demesne.erasing', 'off', true);
  INSERT INTO erasure (subject_ref, actor, reason) VALUES (p_subject_ref, p_actor, p_reason)
    ON CONFLICT (subject_ref) DO NOTHING;
  RETURN n > 0;
END $$;

-- DDL on a migrated store needs the migrator's transaction-local flag; the recorder cannot ALTER anyway
-- (it owns nothing), this also stops an owner's casual DISABLE TRIGGER. The role itself is made by the migrator.
CREATE FUNCTION demesne_block_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('demesne.migrating', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'demesne: DDL (%) is refused on the fleet store outside a migration', tg_tag
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END $$;
DO $$ BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    CREATE EVENT TRIGGER demesne_no_ddl ON ddl_command_start EXECUTE FUNCTION demesne_block_ddl();
  ELSE
    RAISE WARNING 'demesne: not a superuser, DDL guard (event trigger) not installed';
  END IF;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON FUNCTION demesne_supersede(bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION demesne_erase(text, text, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO demesne_recorder;
GRANT SELECT, INSERT ON vertex, fact, batch, audit_log, subject_key, erasure TO demesne_recorder;
GRANT SELECT ON installation TO demesne_recorder;
GRANT USAGE ON SEQUENCE fact_fact_id_seq TO demesne_recorder;
GRANT EXECUTE ON FUNCTION demesne_supersede(bigint[]), demesne_erase(text, text, text) TO demesne_recorder;

-- Planner statistics after a large batch (the embedded store has no autovacuum); the recorder owns nothing,
-- so it asks through this function.
CREATE FUNCTION demesne_analyze() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  ANALYZE fact;
  ANALYZE vertex;
END $$;
REVOKE ALL ON FUNCTION demesne_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION demesne_analyze() TO demesne_recorder;
