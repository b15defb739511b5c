-- A hostile image: every kind of broken item becomes a row with a problem code, never an error
-- that hides the other rows, never a crash, never a hang. The image has FIFOs named x.control,
-- x--1.sql, fifoscript--1.sql and fifo.so, and symlinks to /dev/zero, /dev/urandom and
-- /proc/self/environ where control files, scripts and libraries belong: opening a FIFO for
-- reading blocks until a writer appears, and PostgreSQL's signal handlers restart the call, so
-- a plain open() would hang this suite past the timeout below (which could not even end it).
SET statement_timeout = '60s';
BEGIN;
SELECT set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/extensions/hostile/share', true) IS NOT NULL AS set,
       set_config('dynamic_library_path',
                  '$libdir:' || current_setting('regress.fx') || '/extensions/hostile/lib', true) IS NOT NULL AS set;

SELECT name, visible, default_version, problems
  FROM pgext.mounted_extensions WHERE image = 'hostile' ORDER BY name;
SELECT name, d->>'code' AS code, d->>'severity' AS severity, n(d->>'message') AS message
  FROM pgext.mounted_extensions, jsonb_array_elements(problem_details) d
 WHERE image = 'hostile' ORDER BY name, code;

SELECT basename, source, size, sha256 IS NOT NULL AS hashed, problems
  FROM pgext.libraries WHERE image = 'hostile' ORDER BY basename;

SELECT name, file_count, tree_digest, on_control_path, on_library_path, not_on_path,
       (SELECT array_agg(DISTINCT c ORDER BY c) FROM unnest(problems) c) AS problem_codes
  FROM pgext.mounted_images WHERE name = 'hostile';

-- The other images are still all there.
SELECT count(*) AS images FROM pgext.mounted_images;
ROLLBACK;

-- Images too large to read whole, each a clear problem within bounded time and memory: a 50 MB
-- control file and a 1 GB script (file_too_large), 100 000 files in one directory
-- (too_many_entries; the tree scan still counts them), 100 nested directories (too_deep), a
-- directory symlink cycle (listed, never followed).
-- The scan takes seconds (100 000 files, 1 GB hashed). PostgreSQL's idle-stats timer, armed at
-- the last idle point, may fire meanwhile and pgext still takes any pending interrupt for a
-- cancel (issue #10, "harmless interrupts"): flush the stats first so no timer is armed.
SELECT pg_stat_force_next_flush();
BEGIN;
SELECT set_config('pgext.extensions_root', current_setting('regress.fx') || '/hostile-root', true) IS NOT NULL AS set,
       set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/hostile-root/huge/share:'
                             || current_setting('regress.fx') || '/hostile-root/crowd/share:'
                             || current_setting('regress.fx') || '/hostile-root/deep/share', true) IS NOT NULL AS set;
SELECT image, name, visible, problems, n(problem_details->0->>'message') AS message
  FROM pgext.mounted_extensions WHERE image IS NOT NULL ORDER BY image, name;
SELECT name, file_count, tree_digest IS NOT NULL AS digested, problems,
       n(problem_details->0->>'message') AS message
  FROM pgext.mounted_images WHERE name IN ('crowd', 'deep', 'huge') ORDER BY name;
ROLLBACK;

-- A dangling first copy: pgext says PostgreSQL's listing fails on it while CREATE EXTENSION
-- uses the next copy; PostgreSQL agrees on both counts.
BEGIN;
SELECT set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/proof/dangling/share:'
                             || current_setting('regress.fx') || '/extensions/alpha/share', true) IS NOT NULL AS set;
SELECT position, visible, problems, problem_details->0->>'severity' AS severity
  FROM pgext.mounted_extensions WHERE name = 'pgext_regress_alpha' ORDER BY position;
DO $$
BEGIN
  PERFORM count(*) FROM pg_available_extensions;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_available_extensions: % (SQLSTATE %)', n(SQLERRM), SQLSTATE;
END $$;
CREATE EXTENSION pgext_regress_alpha;
SELECT extversion FROM pg_extension WHERE extname = 'pgext_regress_alpha';
ROLLBACK;
