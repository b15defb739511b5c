-- Compatibility verdicts against what PostgreSQL really does. For each real artefact (see
-- tests/fixtures/README.md), only its image is put on the paths; pgext's verdict is recorded,
-- then CREATE EXTENSION and LOAD of its library are run in a fresh session, and compared.
CREATE FUNCTION oracle(img text, ext text, try_create bool DEFAULT true)
RETURNS TABLE (image text, predicted bool, codes text[], created bool, loaded bool, state text, agree bool)
LANGUAGE plpgsql AS $$
DECLARE
  dir text := current_setting('regress.fx') || '/real/extensions/' || img;
  lib text;
BEGIN
  PERFORM set_config('extension_control_path', '$system:' || dir || '/share', true);
  PERFORM set_config('dynamic_library_path', '$libdir:' || dir || '/lib', true);
  image := img;
  SELECT m.compatible, m.problems, m.library INTO predicted, codes, lib
    FROM pgext.mounted_extensions m WHERE m.name = ext AND m.visible;
  IF try_create THEN
    BEGIN
      EXECUTE format('CREATE EXTENSION %I', ext);
      created := true;
    EXCEPTION WHEN OTHERS THEN
      created := false;
      state := SQLSTATE;
    END;
    IF lib IS NOT NULL THEN
      BEGIN
        EXECUTE format('LOAD %L', lib);
        loaded := true;
      EXCEPTION WHEN OTHERS THEN
        loaded := false;
        state := coalesce(state, SQLSTATE);
      END;
    END IF;
    agree := predicted = created AND (loaded IS NULL OR loaded = predicted);
  END IF;
  RETURN NEXT;
END $$;

\c
BEGIN; SELECT * FROM oracle('vector', 'vector'); ROLLBACK;
\c
BEGIN; SELECT * FROM oracle('pgext_fixture', 'pgext_fixture'); ROLLBACK;
\c
BEGIN; SELECT * FROM oracle('needs_missing_lib', 'needs_missing_lib'); ROLLBACK;
\c
BEGIN; SELECT * FROM oracle('undefined_symbol', 'undefined_symbol'); ROLLBACK;
\c
BEGIN; SELECT * FROM oracle('no_magic', 'no_magic'); ROLLBACK;
\c
BEGIN; SELECT * FROM oracle('magic_pg17', 'magic_pg17'); ROLLBACK;
\c
-- Fine only because its image's system/ directory is on the server's LD_LIBRARY_PATH.
BEGIN; SELECT * FROM oracle('needs_system', 'needs_system'); ROLLBACK;
\c
-- Debian unstable's PG 18 build needs GLIBC_2.38; this is bookworm (2.36).
BEGIN; SELECT * FROM oracle('vector_unstable', 'vector'); ROLLBACK;
\c
-- Debian trixie's PG 17 build: needs GLIBC_2.38 as well, and has a PG 17 magic block.
BEGIN; SELECT * FROM oracle('vector_pg17', 'vector'); ROLLBACK;
\c
BEGIN; SELECT * FROM oracle('vector_arm64', 'vector'); ROLLBACK;
\c
-- A truncated library: dlopen() of it kills the backend with SIGBUS and restarts every
-- session (tests/fixtures observed it), so PostgreSQL is not asked here.
BEGIN; SELECT image, predicted, codes FROM oracle('truncated', 'truncated', false); ROLLBACK;
\c
-- Installs fine (the install script's AS '$libdir/…' is searched on the path), but the update
-- script's LOAD '$libdir/…' looks only in $libdir: once installed at 1.0, the update fails.
BEGIN;
SELECT * FROM oracle('libdir_load', 'libdir_load');
SELECT d->>'code' AS code, d->>'severity' AS severity FROM pgext.mounted_extensions, jsonb_array_elements(problem_details) d
 WHERE name = 'libdir_load' AND visible;
ROLLBACK;
\c
BEGIN;
SELECT set_config('extension_control_path', '$system:' || current_setting('regress.fx') || '/real/extensions/libdir_load/share', true) IS NOT NULL AS set,
       set_config('dynamic_library_path', '$libdir:' || current_setting('regress.fx') || '/real/extensions/libdir_load/lib', true) IS NOT NULL AS set;
CREATE EXTENSION libdir_load VERSION '1.0';
SELECT compatible, problems, installed_version, update_path FROM pgext.mounted_extensions WHERE name = 'libdir_load';
SAVEPOINT s;
DO $$ BEGIN ALTER EXTENSION libdir_load UPDATE; EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'ALTER EXTENSION UPDATE: SQLSTATE %', SQLSTATE; END $$;
ROLLBACK;

-- Every visible extension of the regress configuration (contrib in $system included): pgext's
-- verdict agrees with CREATE EXTENSION for each one that has a library.
\c
CREATE TEMP TABLE verdicts AS
  SELECT name, compatible FROM pgext.mounted_extensions
   WHERE visible AND library IS NOT NULL AND installed_version IS NULL;
DO $$
DECLARE r record; ok bool; disagree int := 0; n int := 0;
BEGIN
  FOR r IN SELECT * FROM verdicts ORDER BY name LOOP
    BEGIN
      EXECUTE format('CREATE EXTENSION %I CASCADE', r.name);
      ok := true;
      RAISE EXCEPTION 'roll back' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN NULL;
      WHEN OTHERS THEN ok := false;
    END;
    n := n + 1;
    IF ok IS DISTINCT FROM r.compatible THEN
      disagree := disagree + 1;
      RAISE NOTICE 'disagree: % predicted %, CREATE EXTENSION %', r.name, r.compatible, ok;
    END IF;
    ok := NULL;
  END LOOP;
  RAISE NOTICE 'checked % extensions, % disagreements', CASE WHEN n > 40 THEN 'over 40' ELSE n::text END, disagree;
END $$;

-- pgext.library_compat: ABI, magic block and glibc of each library.
SELECT regexp_replace(path, '^.*/', '') AS file, image, loadable, machine, magic_version, module_name,
       module_version, coalesce(glibc_needed <= glibc_available, true) AS glibc_ok, problems
  FROM pgext.library_compat WHERE image IS NOT NULL ORDER BY image, file;

-- check_extension(): the full reasoning as jsonb.
SELECT j->>'name' AS name, j->>'compatible' AS compatible, jsonb_array_length(j->'libraries') AS libraries,
       j->'libraries'->0->'magic'->>'pg_version' AS magic, j->'libraries'->0->'via' AS via,
       j->'server'->>'pg_version' AS server
  FROM pgext.check_extension('pgext_fixture') j;
SELECT pgext.check_extension('no_such_extension');
