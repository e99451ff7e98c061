-- Facts are tamper-evident through the audit chain: every batch appends an entry that binds its rows (ADR 0013;
-- the digests are computed in TypeScript, nothing here is trusted to compute them). This migration closes the
-- migration switch: `SET demesne.migrating = 'on'` alone no longer opens DDL. The guard also needs this very
-- transaction to have recorded a migration, which migrate.ts does first, inside the migration's transaction;
-- schema_migrations becomes append-only, so a row made up to open the switch stays behind as an unknown
-- migration (the next open refuses the store). An owner can still go around it (session_replication_role
-- also silences event triggers); what that changes in the facts, `demesne audit verify` reports.
CREATE OR REPLACE FUNCTION demesne_block_ddl() RETURNS event_trigger LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF current_setting('demesne.migrating', true) IS DISTINCT FROM 'on'
     OR NOT EXISTS (SELECT 1 FROM public.schema_migrations WHERE xmin::text = (txid_current() % 4294967296)::text) THEN
    RAISE EXCEPTION 'demesne: DDL (%) is refused on the fleet store outside a migration', tg_tag
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END $$;

CREATE TRIGGER schema_migrations_no_change BEFORE UPDATE OR DELETE ON schema_migrations FOR EACH ROW EXECUTE FUNCTION demesne_refuse();
CREATE TRIGGER schema_migrations_no_truncate BEFORE TRUNCATE ON schema_migrations FOR EACH STATEMENT EXECUTE FUNCTION demesne_refuse();
