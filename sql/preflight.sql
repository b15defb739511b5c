-- Pre-flight reads another server's files: superusers and pg_read_server_files members (the
-- function checks), granted to pgext_admin only.
COMMENT ON FUNCTION pgext.preflight(text, text[], text) IS
  'Verdicts of mounted_extensions for images (name=directory or name=reference, or NULL: the mounted ones) judged against another server (a directory or an image reference, fetched and unpacked)';
REVOKE ALL ON FUNCTION pgext.preflight(text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.preflight(text, text[], text) TO pgext_admin;
