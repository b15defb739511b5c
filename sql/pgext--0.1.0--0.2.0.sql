\echo Use "ALTER EXTENSION pgext UPDATE TO '0.2.0'" to load this file. \quit
-- pgext 0.1.0 -> 0.2.0. tests/upgrade/run.sh proves that this script applied to a 0.1.0 install
-- gives exactly the objects, columns, grants and comments of a fresh 0.2.0 install.

-- Image names in pgext's tables are checked by a domain (a pgext_admin member could write
-- '../..' into them before). Rows that break the rule cannot have been written by pgext's
-- functions; they are reported and removed so that the domain can apply.
CREATE DOMAIN pgext.image_name AS text
  CONSTRAINT image_name_valid CHECK (
    VALUE <> '' AND VALUE NOT IN ('.', '..') AND strpos(VALUE, '/') = 0
    AND VALUE !~ '[[:space:][:cntrl:]=,]');
COMMENT ON DOMAIN pgext.image_name IS 'A directory name directly below pgext.extensions_root';

DO $$
DECLARE
  t text;
  bad text;
BEGIN
  FOREACH t IN ARRAY ARRAY['pins', 'image_checks', 'image_files', 'image_differences'] LOOP
    EXECUTE format($q$
      WITH d AS (DELETE FROM pgext.%I
                  WHERE NOT (name <> '' AND name NOT IN ('.', '..') AND strpos(name, '/') = 0
                             AND name !~ '[[:space:][:cntrl:]=,]')
                 RETURNING name)
      SELECT string_agg(DISTINCT quote_literal(name), ', ') FROM d$q$, t) INTO bad;
    IF bad IS NOT NULL THEN
      RAISE WARNING 'pgext: removed rows with invalid image names from pgext.%: %', t, bad;
    END IF;
  END LOOP;
END $$;
ALTER TABLE pgext.pins ALTER COLUMN name TYPE pgext.image_name;
ALTER TABLE pgext.image_checks ALTER COLUMN name TYPE pgext.image_name;
ALTER TABLE pgext.image_files ALTER COLUMN name TYPE pgext.image_name;
ALTER TABLE pgext.image_differences ALTER COLUMN name TYPE pgext.image_name;

-- pgext_admin is no longer a member of pg_monitor (that also gave it pg_read_all_settings and
-- pg_read_all_stats); it gets exactly the read grants pgext's objects need.
DO $$
BEGIN
  IF pg_catalog.pg_has_role('pgext_admin', 'pg_monitor', 'MEMBER') THEN
    REVOKE pg_monitor FROM pgext_admin;
    RAISE NOTICE 'pgext: pgext_admin is no longer a member of pg_monitor; it keeps read access to pgext''s objects';
  END IF;
END $$;
GRANT EXECUTE ON FUNCTION pgext.extension_paths() TO pgext_admin;
GRANT SELECT ON pgext.extension_paths TO pgext_admin;
GRANT EXECUTE ON FUNCTION pgext.mounted_extensions(), pgext.libraries(), pgext.mounted_images() TO pgext_admin;
GRANT SELECT ON pgext.mounted_extensions, pgext.libraries, pgext.mounted_images TO pgext_admin;
GRANT EXECUTE ON FUNCTION pgext.reset_hash_cache() TO pgext_admin;
GRANT EXECUTE ON FUNCTION pgext.library_compat(), pgext.check_extension(text) TO pgext_admin;
GRANT SELECT ON pgext.library_compat TO pgext_admin;
GRANT SELECT ON pgext.pins, pgext.image_pins, pgext.image_checks, pgext.image_files, pgext.image_differences
  TO pgext_admin;
GRANT EXECUTE ON FUNCTION pgext.image_pins(), pgext.image_diff(text), pgext.image_files(text) TO pgext_admin;
GRANT EXECUTE ON FUNCTION pgext.worker_status(), pgext.image_status(), pgext.health(), pgext.report()
  TO pgext_admin;
GRANT SELECT ON pgext.worker_status, pgext.image_status, pgext.health, pgext.check_runs, pgext.findings
  TO pgext_admin;

-- Enforcement (pgext.enforce): decisions and counters from shared memory.
CREATE FUNCTION pgext."enforcement_log"() RETURNS TABLE (
	"seq" bigint,
	"at" timestamp with time zone,
	"pid" integer,
	"database" text,
	"role" text,
	"action" text,
	"object" text,
	"image" text,
	"outcome" text,
	"failed" text,
	"detail" text
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'enforcement_log_wrapper';
CREATE FUNCTION pgext."enforcement_status"() RETURNS TABLE (
	"mode" text,
	"require" text,
	"exempt" text,
	"hook_installed" bool,
	"allowed" bigint,
	"warned" bigint,
	"refused" bigint,
	"exempted" bigint,
	"problem" text
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'enforcement_status_wrapper';
CREATE VIEW pgext.enforcement_log AS SELECT * FROM pgext.enforcement_log();
COMMENT ON VIEW pgext.enforcement_log IS
  'Recent pgext.enforce decisions (allowed, warned, refused, exempt) since server start (shared memory)';
CREATE VIEW pgext.enforcement_status AS SELECT * FROM pgext.enforcement_status();
COMMENT ON VIEW pgext.enforcement_status IS
  'pgext.enforce in effect, whether its hook is installed, and decision counters since server start';
REVOKE ALL ON FUNCTION pgext.enforcement_log(), pgext.enforcement_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.enforcement_log(), pgext.enforcement_status() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.enforcement_log, pgext.enforcement_status FROM PUBLIC;
GRANT SELECT ON pgext.enforcement_log, pgext.enforcement_status TO pg_monitor, pgext_admin;
