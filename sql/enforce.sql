-- Enforcement (pgext.enforce): recent decisions and counters, from shared memory, so that a
-- standby records its decisions too. Readable by monitoring (pg_monitor) and pgext_admin.
CREATE VIEW pgext.enforcement_log AS SELECT * FROM pgext.enforcement_log();
COMMENT ON VIEW pgext.enforcement_log IS
  'Recent pgext.enforce decisions (allowed, warned, refused, exempt) since server start (shared memory)';
CREATE VIEW pgext.enforcement_status AS SELECT * FROM pgext.enforcement_status();
COMMENT ON VIEW pgext.enforcement_status IS
  'pgext.enforce in effect, whether its hook is installed, and decision counters since server start';
REVOKE ALL ON FUNCTION pgext.enforcement_log(), pgext.enforcement_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.enforcement_log(), pgext.enforcement_status() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.enforcement_log, pgext.enforcement_status FROM PUBLIC;
GRANT SELECT ON pgext.enforcement_log, pgext.enforcement_status TO pg_monitor, pgext_admin;
