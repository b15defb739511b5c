CREATE VIEW pgext.extension_paths AS SELECT * FROM pgext.extension_paths();
COMMENT ON VIEW pgext.extension_paths IS
  'Elements of extension_control_path and dynamic_library_path as PostgreSQL 18 expands them';
-- Paths reveal the server's layout: superusers, pg_monitor and pgext_admin only.
REVOKE ALL ON FUNCTION pgext.extension_paths() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.extension_paths() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.extension_paths FROM PUBLIC;
GRANT SELECT ON pgext.extension_paths TO pg_monitor, pgext_admin;
