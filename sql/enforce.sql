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

-- Enforcement at every load (pgext.enforce judges the first lookup of each C function in every
-- session): the day-2 preview of what `on` would refuse, and the trigger that tells every
-- backend (and standby) to drop its cached decisions when pins or recorded checks change.
CREATE VIEW pgext.enforcement_preview AS SELECT * FROM pgext.enforcement_preview();
COMMENT ON FUNCTION pgext.enforcement_preview() IS
  'What pgext.enforce = on would refuse in this database now: every installed extension and every C function whose library comes from an image, with the decision, failed conditions, evidence and fix';
COMMENT ON VIEW pgext.enforcement_preview IS
  'What pgext.enforce = on would refuse in this database now (extensions, and C functions whose library comes from an image)';
REVOKE ALL ON FUNCTION pgext.enforcement_preview() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.enforcement_preview() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.enforcement_preview FROM PUBLIC;
GRANT SELECT ON pgext.enforcement_preview TO pg_monitor, pgext_admin;
COMMENT ON COLUMN pgext.enforcement_preview.kind IS 'extension (an installed extension, judged as its update or a new CREATE EXTENSION would be) or function (a C function whose library comes from an image)';
COMMENT ON COLUMN pgext.enforcement_preview.object IS 'The extension''s name, or the function''s signature (regprocedure)';
COMMENT ON COLUMN pgext.enforcement_preview.extension IS 'The extension: the row''s own for kind = extension, the one that owns the function otherwise (NULL when none does)';
COMMENT ON COLUMN pgext.enforcement_preview.library IS 'The library the function loads (its probin as dynamic_library_path resolves it); NULL for extension rows';
COMMENT ON COLUMN pgext.enforcement_preview.image IS 'The mounted image the library or extension comes from';
COMMENT ON COLUMN pgext.enforcement_preview.decision IS 'What pgext.enforce = on would do now: allowed, exempt or refused';
COMMENT ON COLUMN pgext.enforcement_preview.failed IS 'The pgext.require conditions the image fails (NULL when allowed)';
COMMENT ON COLUMN pgext.enforcement_preview.detail IS 'The DETAIL the refusal would carry: the evidence for each failed condition';
COMMENT ON COLUMN pgext.enforcement_preview.hint IS 'The HINT the refusal would carry: how to fix it';
COMMENT ON FUNCTION pgext.policy_changed() IS
  'Trigger: a change of pins or recorded checks invalidates every backend''s cached enforcement decisions';
REVOKE ALL ON FUNCTION pgext.policy_changed() FROM PUBLIC;
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgext.pins
  FOR EACH STATEMENT EXECUTE FUNCTION pgext.policy_changed();
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgext.image_checks
  FOR EACH STATEMENT EXECUTE FUNCTION pgext.policy_changed();
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgext.image_files
  FOR EACH STATEMENT EXECUTE FUNCTION pgext.policy_changed();
COMMENT ON TRIGGER policy_changed ON pgext.pins IS 'Drops cached enforcement decisions in every backend';
COMMENT ON TRIGGER policy_changed ON pgext.image_checks IS 'Drops cached enforcement decisions in every backend';
COMMENT ON TRIGGER policy_changed ON pgext.image_files IS 'Drops cached enforcement decisions in every backend';
