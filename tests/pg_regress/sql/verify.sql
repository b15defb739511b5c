-- Pins and verification against real sources: a loopback docker-registry (plain and with basic
-- auth), an oci: layout and an oci-archive: tarball. Digests vary with the build, so they are
-- compared, not printed.
\getenv registry PGEXT_REGISTRY
\getenv registry_auth PGEXT_REGISTRY_AUTH
\getenv silent PGEXT_SILENT
\getenv alpha_digest PGEXT_ALPHA_DIGEST

-- Pins from pgext.images (set in the server's configuration) and from pin_image().
SELECT pgext.pin_image('vector', :'registry' || '/vector:0.8.0');
SELECT pgext.pin_image('pgext_fixture', 'oci:' || current_setting('regress.fx') || '/oci/elsewhere:1');  -- the setting wins
SELECT name, n(reference) AS reference, source, effective FROM pgext.image_pins ORDER BY name, source;
SELECT name, status FROM pgext.mounted_images WHERE status <> 'unpinned' ORDER BY name;

-- A clean image from the registry: verified, and the expected tree rebuilt from the layers has
-- the same canonical digest as the inventory's tree_digest of the mount.
SELECT name, status, missing, modified, unexpected, changed, error_code, recorded,
       expected_tree_digest = actual_tree_digest AS same_tree
  FROM pgext.verify_image('vector');
SELECT i.status, i.tree_digest = c.expected_tree_digest AS inventory_digest_matches,
       i.pinned_digest IS NULL AS tag_only_pin, i.resolved_digest IS NOT NULL AS resolved,
       i.verified_at IS NOT NULL AS verified_at
  FROM pgext.mounted_images i JOIN pgext.image_checks c USING (name) WHERE name = 'vector';
SELECT count(*) > 10 AS files_recorded, count(*) FILTER (WHERE kind = 'file' AND sha256 IS NULL) AS unhashed
  FROM pgext.image_files('vector');

-- Air-gapped: an oci: layout and an oci-archive: tarball, pinned in pgext.images.
SELECT name, status, pin_source, missing + modified + unexpected + changed AS differences, error_code
  FROM pgext.verify_images() WHERE name IN ('pgext_fixture', 'needs_system') ORDER BY name;

-- The tag moved to another image: verification goes on against the pinned digest.
SELECT pgext.pin_image('alpha', :'registry' || '/alpha:v1@' || :'alpha_digest');
SELECT name, status, resolved_digest = :'alpha_digest' AS pinned_digest_used,
       tag_digest <> :'alpha_digest' AS tag_elsewhere, missing + modified + unexpected + changed AS differences
  FROM pgext.verify_image('alpha');

-- Failures become a status with a code, never a lost row.
SELECT pgext.pin_image('shadowlib', :'registry' || '/corrupt:v1');
SELECT pgext.pin_image('vector_pg17', '127.0.0.1:1/nothing:1');
SELECT pgext.pin_image('libdir_load', 'oci-archive:' || current_setting('regress.fx') || '/oci/nonexistent.tar');
SELECT name, status, error_code, recorded FROM pgext.verify_image('shadowlib');
SELECT name, status, error_code FROM pgext.verify_image('vector_pg17');
SELECT name, status, error_code FROM pgext.verify_image('libdir_load');
SELECT name, status FROM pgext.mounted_images WHERE status <> 'unpinned' ORDER BY name;

-- Bad input gets a clear SQL error.
SELECT pgext.pin_image('../escape', 'x/y:1');
SELECT pgext.pin_image('ok', 'not a reference');
SELECT * FROM pgext.verify_image('never_pinned');
SELECT * FROM pgext.recheck_image('libdir_load');

-- Local layouts only from pgext.layout_directories, checked after resolving .. and symbolic
-- links: the same refusal (42501) whether or not the path exists, so pins cannot probe the server.
SELECT pgext.pin_image('probe', 'oci:/etc:1');
SELECT pgext.pin_image('probe', 'oci-archive:/nonexistent/archive.tar');
DO $$
BEGIN
    PERFORM pgext.pin_image('probe', 'oci:/proc/self/environ');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'refused with SQLSTATE %', SQLSTATE;
END $$;
DO $$
BEGIN
    PERFORM pgext.pin_image('probe', 'oci:' || current_setting('regress.fx') || '/oci/../auth:1');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE '%: %', SQLSTATE, n(SQLERRM);
END $$;
-- A pin made while the setting allowed it is refused by verify_image once it no longer does, and
-- is a per-row "forbidden" for verify_images().
SELECT pgext.pin_image('probe', 'oci:' || current_setting('regress.fx') || '/oci/pgext_fixture:v1');
SET pgext.layout_directories = '/nonexistent';
DO $$
BEGIN
    PERFORM pgext.verify_image('probe');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE '%: %', SQLSTATE, n(SQLERRM);
END $$;
SELECT name, status, error_code FROM pgext.verify_images() WHERE name = 'probe';
RESET pgext.layout_directories;
SELECT pgext.unpin_image('probe');

-- A registry that accepts the connection and never answers: statement_timeout ends it.
SELECT pgext.pin_image('ghost', :'silent' || '/never:1');
SET statement_timeout = '1s';
SELECT clock_timestamp() AS t0 \gset
SELECT * FROM pgext.verify_image('ghost');
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 seconds' AS ended_promptly;
-- ...and nothing was half-written.
SELECT count(*) AS ghost_checks FROM pgext.image_checks WHERE name = 'ghost';

-- Basic auth: credentials from a docker config.json; wrong or none is "auth", and no password
-- ever shows.
SELECT pgext.pin_image('beta', :'registry_auth' || '/beta:v1');
SELECT name, status, error_code FROM pgext.verify_image('beta');
SELECT set_config('pgext.registry_auth_file', current_setting('regress.fx') || '/auth/bad.json', false) IS NOT NULL;
SELECT name, status, error_code, error LIKE '%s3cret%' OR error LIKE '%wrong-pass%' AS leaks
  FROM pgext.verify_image('beta');
SELECT set_config('pgext.registry_auth_file', current_setting('regress.fx') || '/auth/good.json', false) IS NOT NULL;
SELECT name, status, error_code FROM pgext.verify_image('beta');
RESET pgext.registry_auth_file;

-- Drift, on a writable copy of beta: modified, missing, unexpected and mode-changed files.
SELECT set_config('pgext.extensions_root', current_setting('regress.fx') || '/scratch', false) IS NOT NULL;
SELECT pgext.pin_image('beta', :'registry' || '/beta:v1');
SELECT name, status FROM pgext.verify_image('beta');
-- mounted_images keeps a writable tree while inotify says nothing in it changed: seen once
-- before the tampering, its digest must still follow it (compared below with shell tools).
CREATE TEMP TABLE before_tamper AS SELECT tree_digest FROM pgext.mounted_images WHERE name = 'beta';
SELECT b.tree_digest = c.expected_tree_digest AS digest_is_the_image
  FROM before_tamper b, pgext.image_checks c WHERE c.name = 'beta';
SELECT format('COPY (SELECT 1) TO PROGRAM %L',
              format('cd %s/scratch/beta && echo tampered >> share/extension/pgext_regress_beta.control'
                     ' && rm share/extension/pgext_regress_beta--2.1.sql && echo new > lib/extra.so'
                     ' && chmod 600 share/extension/pgext_regress_twice.control', current_setting('regress.fx')))
\gset cmd_
\set ECHO none
:cmd_format;
\set ECHO all
-- recheck_image re-hashes the local files against the recorded tree, with no network: the
-- registry is made unreachable first.
SET pgext.insecure_registries = '';
SELECT name, status, missing, modified, unexpected, changed FROM pgext.recheck_image('beta');
SELECT path, kind, expected IS NOT NULL AS has_expected, actual IS NOT NULL AS has_actual
  FROM pgext.image_diff('beta');
SELECT name, status, missing, modified, unexpected, changed, verified_at IS NOT NULL AS verified_before
  FROM pgext.mounted_images WHERE name = 'beta';
CREATE TEMP TABLE tampered (digest text);
DO $$
BEGIN
  EXECUTE format('COPY tampered FROM PROGRAM %L',
                 format('bash %s/tree-digest.sh %s/scratch/beta', current_setting('regress.fx'),
                        current_setting('regress.fx')));
END $$;
SELECT i.tree_digest = t.digest AS digest_is_the_tampered_tree, i.tree_digest <> b.tree_digest AS changed
  FROM pgext.mounted_images i, tampered t, before_tamper b WHERE i.name = 'beta';
RESET pgext.insecure_registries;
RESET pgext.extensions_root;

-- Privileges: only superusers and pgext_admin make the server contact a registry or change
-- pins; pg_monitor reads the results.
CREATE ROLE pgext_regress_admin IN ROLE pgext_admin;
CREATE ROLE pgext_regress_monitor IN ROLE pg_monitor;
SET ROLE pgext_regress_monitor;
SELECT * FROM pgext.verify_image('vector');
SELECT pgext.pin_image('x', 'a/b:1');
SELECT count(*) > 0 AS monitor_reads FROM pgext.image_checks;
RESET ROLE;
SET ROLE pgext_regress_admin;
SELECT name, status FROM pgext.verify_image('vector');
SELECT pgext.unpin_image('ghost') AS unpinned, pgext.unpin_image('ghost') AS again;
RESET ROLE;
DROP ROLE pgext_regress_admin;
DROP ROLE pgext_regress_monitor;

-- A new pin whose first verification fails keeps nothing of the previous image: no recorded
-- tree to recheck against, no stale differences.
SELECT pgext.pin_image('vector', '127.0.0.1:1/elsewhere:1');
SELECT name, status, error_code, resolved_digest IS NULL AS no_digest FROM pgext.verify_image('vector');
SELECT count(*) AS recorded_files FROM pgext.image_files('vector');
SELECT * FROM pgext.recheck_image('vector');
SELECT name, status, resolved_digest IS NULL AS no_digest, verified_at IS NULL AS never_verified
  FROM pgext.mounted_images WHERE name = 'vector';
