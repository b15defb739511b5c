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
