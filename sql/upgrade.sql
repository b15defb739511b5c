-- Major-upgrade pre-flight and ALTER EXTENSION … UPDATE pre-flight.
CREATE VIEW pgext.extension_updates AS SELECT * FROM pgext.extension_updates();
COMMENT ON VIEW pgext.extension_updates IS
  'For each extension installed in this database: the update path from installed_version to the default version, and whether it exists and every script on it parses (script_syntax_error names the script and line)';
COMMENT ON FUNCTION pgext.extension_updates() IS
  'Rows of the view pgext.extension_updates';
-- Reads other servers' files and this cluster's catalogs: superusers and pg_read_server_files
-- members (the function checks), granted to pgext_admin only.
COMMENT ON FUNCTION pgext.upgrade_preflight(text, text[], text[], text, text) IS
  'Will pg_upgrade of this cluster to server (directory or reference) with images (new, at /new-extensions) and old_images (at /extensions) work, in CloudNativePG''s upgrade Job (ld_library_path_order old-first or new-first), and which ALTER EXTENSION … UPDATE follow: the JSON of pgext-check upgrade';
REVOKE ALL ON FUNCTION pgext.upgrade_preflight(text, text[], text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.upgrade_preflight(text, text[], text[], text, text) TO pgext_admin;
REVOKE ALL ON FUNCTION pgext.extension_updates() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.extension_updates() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.extension_updates FROM PUBLIC;
GRANT SELECT ON pgext.extension_updates TO pg_monitor, pgext_admin;
COMMENT ON COLUMN pgext.extension_updates.name IS 'The installed extension';
COMMENT ON COLUMN pgext.extension_updates.installed_version IS 'Its version in this database (pg_extension.extversion)';
COMMENT ON COLUMN pgext.extension_updates.default_version IS 'The default_version of the control file PostgreSQL would use now (NULL: no control file on extension_control_path)';
COMMENT ON COLUMN pgext.extension_updates.update_path IS 'The versions ALTER EXTENSION … UPDATE would pass through, installed first (NULL: no path)';
COMMENT ON COLUMN pgext.extension_updates.updatable IS 'Whether ALTER EXTENSION … UPDATE would reach the default version: a path exists and every script on it parses';
COMMENT ON COLUMN pgext.extension_updates.problems IS 'Problem codes (script_syntax_error, no_update_path, not_provided, …; the book''s problem-code reference)';
COMMENT ON COLUMN pgext.extension_updates.problem_details IS 'Each problem with its detail (the script and line of a syntax error)';
COMMENT ON FUNCTION pgext.extension_update_paths(text) IS
  'For every version the scripts of each visible extension (or of the one named) name: the update path to the default version and whether every script on it parses; pg_extension_update_paths() for the default version as target, checked';
REVOKE ALL ON FUNCTION pgext.extension_update_paths(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.extension_update_paths(text) TO pg_monitor, pgext_admin;
