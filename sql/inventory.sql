CREATE VIEW pgext.mounted_extensions AS SELECT * FROM pgext.mounted_extensions();
COMMENT ON VIEW pgext.mounted_extensions IS
  'Every control file on extension_control_path: what PostgreSQL would use (visible) and what it hides';
CREATE VIEW pgext.libraries AS SELECT * FROM pgext.libraries();
COMMENT ON VIEW pgext.libraries IS
  'Every loadable library on dynamic_library_path and every OS library in an image''s system/ directory';
CREATE VIEW pgext.mounted_images AS
SELECT name, root, mounted, read_only, fs_type, mount_options, on_control_path, on_library_path,
       on_ld_library_path, on_path, env, not_on_path, file_count, total_bytes, extension_count,
       library_count, tree_digest, reference, pin_source, pinned_digest, resolved_digest, status,
       verified_at, checked_at, differences[1] AS missing, differences[2] AS modified,
       differences[3] AS unexpected, differences[4] AS changed, problems, problem_details,
       signature, signed_by, signed_at, image_metadata
  FROM pgext.mounted_images();
COMMENT ON VIEW pgext.mounted_images IS
  'Every extension image under pgext.extensions_root: mount, settings coverage, contents, tree digest';
-- Paths reveal the server's layout: superusers, pg_monitor and pgext_admin only.
REVOKE ALL ON FUNCTION pgext.mounted_extensions(), pgext.libraries(), pgext.mounted_images() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.mounted_extensions(), pgext.libraries(), pgext.mounted_images() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.mounted_extensions, pgext.libraries, pgext.mounted_images FROM PUBLIC;
GRANT SELECT ON pgext.mounted_extensions, pgext.libraries, pgext.mounted_images TO pg_monitor, pgext_admin;
REVOKE ALL ON FUNCTION pgext.reset_hash_cache() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.reset_hash_cache() TO pg_monitor, pgext_admin;
COMMENT ON FUNCTION pgext.hash_cache_status() IS
  'This session''s file digest cache: entries, those taken over from the background worker, hits, misses';
REVOKE ALL ON FUNCTION pgext.hash_cache_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.hash_cache_status() TO pg_monitor, pgext_admin;
COMMENT ON FUNCTION pgext.row_sources() IS
  'Where this session''s last rows of mounted_extensions, libraries and library_compat came from: computed, backend (its own, revalidated) or shared (the worker''s or another session''s, revalidated); for mounted_images, the least reused of its image trees (only read-only mounts keep and share theirs)';
REVOKE ALL ON FUNCTION pgext.row_sources() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.row_sources() TO pg_monitor, pgext_admin;
