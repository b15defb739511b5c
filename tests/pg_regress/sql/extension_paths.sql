-- pgext.extension_paths: every element of both path settings, expanded as PostgreSQL 18 does.

-- The configured paths: $system, seven mounted images, and one that is not mounted.
SELECT kind, position, n(element) AS element, n(directory) AS directory,
       is_system, exists, is_dir, readable, problem
  FROM pgext.extension_paths ORDER BY kind, position;

-- PostgreSQL really searches the directories pgext reports: every custom extension that
-- pg_available_extensions lists has its control file in a reported directory, and where there
-- are several copies PostgreSQL uses the first (pgext_regress_twice: 1.0 from alpha, not 9.9).
SELECT a.name, a.default_version, array_agg(p.position ORDER BY p.position) AS found_at
  FROM pg_available_extensions a
  JOIN pgext.extension_paths p
    ON p.kind = 'control'
   AND (pg_stat_file(p.directory || '/' || a.name || '.control', true)).size IS NOT NULL
 WHERE NOT p.is_system
 GROUP BY a.name, a.default_version
 ORDER BY a.name;

-- A missing element is skipped silently by PostgreSQL: nothing from it is available.
SELECT problem, detail FROM pgext.extension_paths WHERE kind = 'control' AND problem = 'missing';

-- Every kind of bad element, one at a time in a transaction so nothing leaks.
BEGIN;
SET LOCAL extension_control_path = '$system/foo:relative/share::/x/:/x';
SELECT position, n(element) AS element, directory, problem FROM pgext.extension_paths
 WHERE kind = 'control' ORDER BY position;
ROLLBACK;

BEGIN;
SELECT set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/bad/file/share:'
                             || current_setting('regress.fx') || '/bad/locked/share', true) IS NOT NULL AS set;
SELECT position, n(directory) AS directory, exists, is_dir, readable, problem, detail
  FROM pgext.extension_paths WHERE kind = 'control' ORDER BY position;
-- ...and PostgreSQL itself indeed fails on such an element, as the detail says.
DO $$
BEGIN
  PERFORM count(*) FROM pg_available_extensions;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_available_extensions: % (SQLSTATE %)', n(SQLERRM), SQLSTATE;
END $$;
ROLLBACK;

BEGIN;
SET LOCAL dynamic_library_path = ':$libdir:$libdir/plugins:$bogus/lib:lib:$libdir/';
SELECT position, element, n(directory) AS directory, problem FROM pgext.extension_paths
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
