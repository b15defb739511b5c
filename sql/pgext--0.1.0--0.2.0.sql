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

-- Verdicts: mounted_extensions gains usable, usable_problems, usable_problem_details (and
-- compatible may be NULL: undecided); library_compat gains preload and preloaded (and loadable
-- may be NULL). Views over a changed row type are dropped and made again with their grants.
DROP VIEW pgext.mounted_extensions;
DROP FUNCTION pgext.mounted_extensions();
CREATE FUNCTION pgext."mounted_extensions"() RETURNS TABLE (
	"name" TEXT,  /* String */
	"image" TEXT,  /* Option < String > */
	"is_system" bool,  /* bool */
	"position" INT,  /* i32 */
	"control_file" TEXT,  /* String */
	"script_directory" TEXT,  /* Option < String > */
	"default_version" TEXT,  /* Option < String > */
	"installable_versions" TEXT[],  /* Vec < String > */
	"installed_version" TEXT,  /* Option < String > */
	"update_path_exists" bool,  /* Option < bool > */
	"update_path" TEXT[],  /* :: std :: option :: Option < Vec < String > > */
	"module_pathname" TEXT,  /* Option < String > */
	"library" TEXT,  /* Option < String > */
	"requires" TEXT[],  /* :: std :: option :: Option < Vec < String > > */
	"superuser" bool,  /* Option < bool > */
	"trusted" bool,  /* Option < bool > */
	"relocatable" bool,  /* Option < bool > */
	"schema" TEXT,  /* Option < String > */
	"comment" TEXT,  /* Option < String > */
	"visible" bool,  /* bool */
	"shadowed_by" TEXT,  /* Option < String > */
	"compatible" bool,  /* Option < bool > */
	"problems" TEXT[],  /* Vec < String > */
	"problem_details" jsonb,  /* JsonB */
	"usable" bool,  /* Option < bool > */
	"usable_problems" TEXT[],  /* Vec < String > */
	"usable_problem_details" jsonb  /* JsonB */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'mounted_extensions_wrapper';
CREATE VIEW pgext.mounted_extensions AS SELECT * FROM pgext.mounted_extensions();
COMMENT ON VIEW pgext.mounted_extensions IS
  'Every control file on extension_control_path: what PostgreSQL would use (visible) and what it hides';
REVOKE ALL ON FUNCTION pgext.mounted_extensions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.mounted_extensions() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.mounted_extensions FROM PUBLIC;
GRANT SELECT ON pgext.mounted_extensions TO pg_monitor, pgext_admin;

DROP VIEW pgext.library_compat;
DROP FUNCTION pgext.library_compat();
CREATE FUNCTION pgext."library_compat"() RETURNS TABLE (
	"path" TEXT,  /* String */
	"image" TEXT,  /* Option < String > */
	"source" TEXT,  /* String */
	"loadable" bool,  /* Option < bool > */
	"machine" TEXT,  /* Option < String > */
	"magic_version" INT,  /* Option < i32 > */
	"magic_abi_extra" TEXT,  /* Option < String > */
	"module_name" TEXT,  /* Option < String > */
	"module_version" TEXT,  /* Option < String > */
	"glibc_needed" TEXT,  /* Option < String > */
	"glibc_available" TEXT,  /* Option < String > */
	"needed" TEXT[],  /* Vec < String > */
	"missing_libraries" TEXT[],  /* Vec < String > */
	"undefined_symbols" TEXT[],  /* Vec < String > */
	"problems" TEXT[],  /* Vec < String > */
	"problem_details" jsonb,  /* JsonB */
	"preload" TEXT,  /* Option < String > */
	"preloaded" bool  /* bool */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'library_compat_wrapper';
CREATE VIEW pgext.library_compat AS SELECT * FROM pgext.library_compat();
COMMENT ON VIEW pgext.library_compat IS
  'Static load analysis of every library: ABI, magic block, glibc symbol versions, dependencies, symbols';
REVOKE ALL ON FUNCTION pgext.library_compat() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.library_compat() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.library_compat FROM PUBLIC;
GRANT SELECT ON pgext.library_compat TO pg_monitor, pgext_admin;

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
