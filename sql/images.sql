-- An image name is a directory directly below pgext.extensions_root: the same rule as
-- pgext_core::pins::check_image_name. Every table keyed by image name uses this domain, so a
-- role that may write the tables (pgext_admin) cannot make pgext list or hash a directory
-- outside the root ('../..').
CREATE DOMAIN pgext.image_name AS text
  CONSTRAINT image_name_valid CHECK (
    VALUE <> '' AND VALUE NOT IN ('.', '..') AND strpos(VALUE, '/') = 0
    AND VALUE !~ '[[:space:][:cntrl:]=,]');
COMMENT ON DOMAIN pgext.image_name IS 'A directory name directly below pgext.extensions_root';

CREATE TABLE pgext.pins (
    name pgext.image_name PRIMARY KEY,
    reference text NOT NULL,
    pinned_at timestamptz NOT NULL DEFAULT now(),
    pinned_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE pgext.pins IS 'Pins set with pgext.pin_image(); the pgext.images setting wins on conflict';
SELECT pg_catalog.pg_extension_config_dump('pgext.pins', '');

CREATE TABLE pgext.image_checks (
    name pgext.image_name PRIMARY KEY,
    reference text NOT NULL,
    pin_source text NOT NULL,
    status text NOT NULL,
    resolved_digest text,
    tag_digest text,
    expected_tree_digest text,
    actual_tree_digest text,
    missing int NOT NULL DEFAULT 0,
    modified int NOT NULL DEFAULT 0,
    unexpected int NOT NULL DEFAULT 0,
    type_changed int NOT NULL DEFAULT 0,
    mode_changed int NOT NULL DEFAULT 0,
    link_changed int NOT NULL DEFAULT 0,
    error_code text,
    error text,
    verified_at timestamptz,
    checked_at timestamptz NOT NULL,
    signature text,
    signed_by text,
    signature_detail text,
    metadata jsonb,
    signed_at timestamptz,
    manifest_digest text,
    tree_format int,
    tree_built_at timestamptz
);
COMMENT ON TABLE pgext.image_checks IS 'The latest verification or recheck of each pinned image';
COMMENT ON COLUMN pgext.image_checks.manifest_digest IS
  'The image manifest whose layers built the recorded expected tree (the platform''s entry of an index)';
COMMENT ON COLUMN pgext.image_checks.tree_format IS
  'The rules the recorded expected tree was built under; a tree of other rules is rebuilt from the layers';
COMMENT ON COLUMN pgext.image_checks.tree_built_at IS
  'When the recorded expected tree was last built from the layers (verifications of the same manifest reuse it)';

CREATE TABLE pgext.image_files (
    name pgext.image_name NOT NULL,
    path text NOT NULL,
    kind text NOT NULL,
    mode int NOT NULL,
    size bigint NOT NULL,
    sha256 text,
    link_target text,
    PRIMARY KEY (name, path)
);
COMMENT ON TABLE pgext.image_files IS 'The expected tree of each image, from its last successful verification';

CREATE TABLE pgext.image_differences (
    name pgext.image_name NOT NULL,
    path text NOT NULL,
    kind text NOT NULL,
    expected text,
    actual text,
    PRIMARY KEY (name, path, kind)
);
COMMENT ON TABLE pgext.image_differences IS 'Per-file differences found by the latest check of each image';

CREATE FUNCTION pgext.image_diff(image text)
RETURNS TABLE (path text, kind text, expected text, actual text)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT path, kind, expected, actual FROM pgext.image_differences WHERE name = image ORDER BY path, kind $$;
COMMENT ON FUNCTION pgext.image_diff(text) IS 'Per-file differences between a mounted image and its pinned content';

CREATE FUNCTION pgext.image_files(image text)
RETURNS TABLE (path text, kind text, mode int, size bigint, sha256 text, link_target text)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT path, kind, mode, size, sha256, link_target FROM pgext.image_files WHERE name = image ORDER BY path $$;
COMMENT ON FUNCTION pgext.image_files(text) IS 'The recorded expected tree of an image';

CREATE VIEW pgext.image_pins AS SELECT * FROM pgext.image_pins() ORDER BY name, source;

-- pgext_admin may make the server contact a registry, change pins and read every result. The
-- role is cluster-wide and shared by every database that installs pgext, so DROP EXTENSION
-- leaves it (drop it by hand once no database has pgext). A role of that name made by someone
-- else is adopted only when it has no attributes pgext would not give it and no non-superuser
-- may grant it: a CREATEROLE user who made it in advance would otherwise hold ADMIN OPTION on
-- pgext's privileges. It is not a member of pg_monitor (which would add pg_read_all_settings
-- and pg_read_all_stats): it gets exactly the grants below.
DO $$
DECLARE
  r pg_catalog.pg_roles%ROWTYPE;
  admins text;
BEGIN
  SELECT * INTO r FROM pg_catalog.pg_roles WHERE rolname = 'pgext_admin';
  IF NOT FOUND THEN
    CREATE ROLE pgext_admin NOLOGIN;
    RETURN;
  END IF;
  IF r.rolsuper OR r.rolcanlogin OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = 'role "pgext_admin" already exists with attributes pgext does not give it',
      DETAIL = 'pgext_admin must be NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS.',
      HINT = 'Drop the role or remove those attributes with ALTER ROLE, then retry.';
  END IF;
  SELECT string_agg(quote_ident(m.rolname), ', ' ORDER BY m.rolname) INTO admins
    FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles m ON m.oid = a.member
   WHERE a.roleid = r.oid AND a.admin_option AND NOT m.rolsuper;
  IF admins IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = 'role "pgext_admin" already exists and non-superusers may grant it',
      DETAIL = format('ADMIN OPTION on pgext_admin is held by: %s.', admins),
      HINT = format('REVOKE ADMIN OPTION FOR pgext_admin FROM %s; then retry.', admins);
  END IF;
  IF pg_catalog.pg_has_role(r.oid, 'pg_monitor', 'MEMBER') THEN
    RAISE WARNING 'role "pgext_admin" is a member of pg_monitor, which gives it more than pgext needs'
      USING HINT = 'REVOKE pg_monitor FROM pgext_admin;';
  END IF;
END $$;
REVOKE ALL ON FUNCTION pgext.verify_image(text), pgext.verify_images(), pgext.recheck_image(text),
  pgext.pin_image(text, text), pgext.unpin_image(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.verify_image(text), pgext.verify_images(), pgext.recheck_image(text),
  pgext.pin_image(text, text), pgext.unpin_image(text) TO pgext_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgext.pins, pgext.image_checks, pgext.image_files,
  pgext.image_differences TO pgext_admin;
-- Reading results reveals paths and digests: pg_monitor.
REVOKE ALL ON pgext.pins, pgext.image_pins, pgext.image_checks, pgext.image_files, pgext.image_differences
  FROM PUBLIC;
GRANT SELECT ON pgext.pins, pgext.image_pins, pgext.image_checks, pgext.image_files, pgext.image_differences
  TO pg_monitor, pgext_admin;
REVOKE ALL ON FUNCTION pgext.image_pins(), pgext.image_diff(text), pgext.image_files(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.image_pins(), pgext.image_diff(text), pgext.image_files(text) TO pg_monitor, pgext_admin;
