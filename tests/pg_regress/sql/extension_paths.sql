-- pgext.extension_paths: every element of both path settings, expanded as PostgreSQL 18 does.
-- Machine-specific directories are replaced by $FX (fixtures), $SHAREDIR and $PKGLIBDIR.
\getenv fx PGEXT_FIXTURES
\getenv sharedir PGEXT_SHAREDIR
\getenv pkglibdir PGEXT_PKGLIBDIR
SELECT set_config('regress.fx', :'fx', false) IS NOT NULL AS fx,
       set_config('regress.sharedir', :'sharedir', false) IS NOT NULL AS sharedir,
       set_config('regress.pkglibdir', :'pkglibdir', false) IS NOT NULL AS pkglibdir;
CREATE FUNCTION pg_temp.n(t text) RETURNS text LANGUAGE sql AS $$
  SELECT replace(replace(replace(t, current_setting('regress.fx'), '$FX'),
                 current_setting('regress.sharedir'), '$SHAREDIR'),
                 current_setting('regress.pkglibdir'), '$PKGLIBDIR')
$$;

-- The configured paths: $system, two images, and an image that is not mounted.
SELECT kind, position, pg_temp.n(element) AS element, pg_temp.n(directory) AS directory,
       is_system, exists, is_dir, readable, problem
  FROM pgext.extension_paths ORDER BY kind, position;

-- PostgreSQL really searches the directory pgext reports: each custom extension that
-- pg_available_extensions lists has its control file in exactly one reported directory,
-- the first one in search order.
SELECT a.name, a.default_version, p.position, pg_temp.n(p.directory) AS found_in
  FROM pg_available_extensions a
  JOIN pgext.extension_paths p
    ON p.kind = 'control'
   AND (pg_stat_file(p.directory || '/' || a.name || '.control', true)).size IS NOT NULL
 WHERE a.name LIKE 'pgext_regress%'
 ORDER BY a.name, p.position;

-- A missing element is skipped silently by PostgreSQL: nothing from it is available.
SELECT problem, detail FROM pgext.extension_paths WHERE kind = 'control' AND problem = 'missing';

-- Every kind of bad element, one at a time in a transaction so nothing leaks.
BEGIN;
SET LOCAL extension_control_path = '$system/foo:relative/share::/x/:/x';
SELECT position, pg_temp.n(element) AS element, directory, problem FROM pgext.extension_paths
 WHERE kind = 'control' ORDER BY position;
ROLLBACK;

BEGIN;
SELECT set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/bad/file/share:'
                             || current_setting('regress.fx') || '/bad/locked/share', true) IS NOT NULL AS set;
SELECT position, pg_temp.n(directory) AS directory, exists, is_dir, readable, problem, detail
  FROM pgext.extension_paths WHERE kind = 'control' ORDER BY position;
-- ...and PostgreSQL itself indeed fails on such an element, as the detail says.
DO $$
BEGIN
  PERFORM count(*) FROM pg_available_extensions;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_available_extensions: % (SQLSTATE %)', pg_temp.n(SQLERRM), SQLSTATE;
END $$;
ROLLBACK;

BEGIN;
SET LOCAL dynamic_library_path = ':$libdir:$libdir/plugins:$bogus/lib:lib:$libdir/';
SELECT position, element, pg_temp.n(directory) AS directory, problem FROM pgext.extension_paths
 WHERE kind = 'library' ORDER BY position;
ROLLBACK;

BEGIN;
SET LOCAL dynamic_library_path = '';
SELECT position, element, directory, problem, detail FROM pgext.extension_paths WHERE kind = 'library';
ROLLBACK;

-- Paths reveal the server's layout: only superusers and pg_monitor may read them.
CREATE ROLE pgext_regress_nobody;
CREATE ROLE pgext_regress_monitor IN ROLE pg_monitor;
SET ROLE pgext_regress_nobody;
SELECT count(*) FROM pgext.extension_paths;
RESET ROLE;
SET ROLE pgext_regress_monitor;
SELECT count(*) > 0 AS monitor_sees_rows FROM pgext.extension_paths;
RESET ROLE;
DROP ROLE pgext_regress_nobody;
DROP ROLE pgext_regress_monitor;
