CREATE VIEW pgext.library_compat AS SELECT * FROM pgext.library_compat();
COMMENT ON VIEW pgext.library_compat IS
  'Static load analysis of every library: ABI, magic block, glibc symbol versions, dependencies, symbols';
REVOKE ALL ON FUNCTION pgext.library_compat(), pgext.check_extension(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.library_compat(), pgext.check_extension(text) TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.library_compat FROM PUBLIC;
GRANT SELECT ON pgext.library_compat TO pg_monitor, pgext_admin;
