CREATE TABLE pgext.pins (
    name text PRIMARY KEY,
    reference text NOT NULL,
    pinned_at timestamptz NOT NULL DEFAULT now(),
    pinned_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE pgext.pins IS 'Pins set with pgext.pin_image(); the pgext.images setting wins on conflict';
SELECT pg_catalog.pg_extension_config_dump('pgext.pins', '');

CREATE TABLE pgext.image_checks (
    name text PRIMARY KEY,
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
    checked_at timestamptz NOT NULL
);
COMMENT ON TABLE pgext.image_checks IS 'The latest verification or recheck of each pinned image';

CREATE TABLE pgext.image_files (
    name text NOT NULL,
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
    name text NOT NULL,
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

-- Who may make the server contact a registry or change pins: superusers and pgext_admin.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgext_admin') THEN
    CREATE ROLE pgext_admin NOLOGIN;
  END IF;
END $$;
REVOKE ALL ON FUNCTION pgext.verify_image(text), pgext.verify_images(), pgext.recheck_image(text),
  pgext.pin_image(text, text), pgext.unpin_image(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.verify_image(text), pgext.verify_images(), pgext.recheck_image(text),
  pgext.pin_image(text, text), pgext.unpin_image(text) TO pgext_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgext.pins, pgext.image_checks, pgext.image_files,
  pgext.image_differences TO pgext_admin;
GRANT pg_monitor TO pgext_admin;
-- Reading results reveals paths and digests: pg_monitor.
REVOKE ALL ON pgext.pins, pgext.image_pins, pgext.image_checks, pgext.image_files, pgext.image_differences
  FROM PUBLIC;
GRANT SELECT ON pgext.pins, pgext.image_pins, pgext.image_checks, pgext.image_files, pgext.image_differences
  TO pg_monitor;
REVOKE ALL ON FUNCTION pgext.image_pins(), pgext.image_diff(text), pgext.image_files(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.image_pins(), pgext.image_diff(text), pgext.image_files(text) TO pg_monitor;
