-- pgext.mounted_images: every image under pgext.extensions_root, and every image the settings
-- name that is not there.
SELECT name, mounted, on_control_path, on_library_path, on_ld_library_path, not_on_path,
       extension_count, library_count, problems
  FROM pgext.mounted_images WHERE name <> 'hostile' ORDER BY name;

-- CloudNativePG 1.29's bin_path and env: the server runs with needs_system/bin on PATH,
-- PROJ_DATA inside needs_system and GDAL_DATA a list whose second element names ghost (not
-- mounted). Paths are shown relative to the extensions root.
SELECT name, on_path,
       array(SELECT replace(e, current_setting('pgext.extensions_root'), '$ROOT') FROM unnest(env) e) AS env
  FROM pgext.mounted_images WHERE env <> '{}' OR on_path <> '{}' ORDER BY name;

-- Mounts: each image is mounted read-only by the test harness when it can (as root), like an
-- image volume; fs_type and options come from /proc/self/mountinfo.
SELECT name, read_only = current_setting('regress.read_only')::bool AS read_only_as_mounted,
       fs_type IS NOT NULL AS has_fs_type,
       ('ro' = ANY(mount_options)) = current_setting('regress.read_only')::bool AS ro_option_as_mounted
  FROM pgext.mounted_images WHERE mounted AND name <> 'hostile' ORDER BY name;
SELECT name, read_only, fs_type, mount_options, file_count, total_bytes, tree_digest
  FROM pgext.mounted_images WHERE NOT mounted;

-- Contents: counts and bytes of the synthetic images (real builds vary by compiler).
SELECT name, file_count, total_bytes FROM pgext.mounted_images WHERE name IN ('alpha', 'beta', 'shadowlib')
 ORDER BY name;

-- The tree digest is recomputed with standard shell tools (find, sha256sum, sort, awk:
-- scripts/tree-digest.sh, documented in docs/src/reference/tree-digest.md) and must match, for every image.
CREATE TEMP TABLE recomputed (name text, digest text);
DO $$
DECLARE img record;
BEGIN
  FOR img IN SELECT name, root FROM pgext.mounted_images WHERE tree_digest IS NOT NULL LOOP
    EXECUTE format('COPY recomputed (digest) FROM PROGRAM %L',
                   format('bash %s/tree-digest.sh %s', current_setting('regress.fx'), img.root));
    UPDATE recomputed SET name = img.name WHERE name IS NULL;
  END LOOP;
END $$;
SELECT count(*) AS images, count(*) FILTER (WHERE r.digest = i.tree_digest) AS matching
  FROM pgext.mounted_images i JOIN recomputed r USING (name);
SELECT i.name, i.tree_digest, r.digest FROM pgext.mounted_images i JOIN recomputed r USING (name)
 WHERE r.digest IS DISTINCT FROM i.tree_digest;

-- Privileges: superusers and pg_monitor only.
CREATE ROLE pgext_regress_nobody;
SET ROLE pgext_regress_nobody;
SELECT count(*) FROM pgext.mounted_images;
RESET ROLE;
DROP ROLE pgext_regress_nobody;
