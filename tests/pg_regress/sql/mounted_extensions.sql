-- pgext.mounted_extensions: every control file on extension_control_path, what PostgreSQL
-- uses (visible) and what it hides (shadowed_by).
SELECT name, image, position, n(control_file) AS control_file, default_version,
       installable_versions, n(library) AS library, visible, n(shadowed_by) AS shadowed_by, problems
  FROM pgext.mounted_extensions WHERE NOT is_system ORDER BY position, name;

-- The same truth PostgreSQL acts on: every extension pg_available_extensions lists has one
-- visible row with the same default_version and comment, and pgext shows no visible extension
-- that PostgreSQL does not (shadowed copies are the only extras). $system included.
SELECT coalesce(a.name, m.name) AS name, a.default_version AS pg, m.default_version AS pgext
  FROM pg_available_extensions a
  FULL JOIN (SELECT * FROM pgext.mounted_extensions WHERE visible) m USING (name)
 WHERE a.name IS NULL OR m.name IS NULL
    OR a.default_version IS DISTINCT FROM m.default_version
    OR a.comment IS DISTINCT FROM m.comment;
SELECT count(*) > 40 AS many_checked, count(*) FILTER (WHERE is_system) > 40 AS system_included
  FROM pgext.mounted_extensions WHERE visible;
SELECT count(*) AS not_visible, count(*) FILTER (WHERE shadowed_by IS NOT NULL) AS shadowed
  FROM pgext.mounted_extensions WHERE NOT visible;

-- installable_versions are what pg_available_extension_versions lists, for every extension.
SELECT m.name, m.installable_versions, v.versions
  FROM pgext.mounted_extensions m
  JOIN (SELECT name, array_agg(version::text ORDER BY version) AS versions
          FROM pg_available_extension_versions GROUP BY name) v USING (name)
 WHERE m.visible
   AND v.versions <> (SELECT array_agg(x ORDER BY x) FROM unnest(m.installable_versions) x);

-- Control file fields, as PostgreSQL reads them.
SELECT name, module_pathname, requires, superuser, trusted, relocatable, schema, comment
  FROM pgext.mounted_extensions WHERE name IN ('vector', 'pgext_fixture', 'libdir_load') AND visible
 ORDER BY name;

-- installed_version and the update path, against what ALTER EXTENSION really does.
CREATE EXTENSION pgext_fixture VERSION '1.0';
SELECT name, installed_version, update_path_exists, update_path
  FROM pgext.mounted_extensions WHERE name = 'pgext_fixture';
ALTER EXTENSION pgext_fixture UPDATE;
SELECT name, installed_version, update_path_exists, update_path
  FROM pgext.mounted_extensions WHERE name = 'pgext_fixture';

-- The library pgext resolved module_pathname to is the one PostgreSQL loaded.
SELECT pgext_fixture_hello() IS NOT NULL AS called;
SELECT l.file_name, l.module_name, l.version,
       l.file_name = regexp_replace(m.library, '^.*/', '') AS same_file
  FROM pg_get_loaded_modules() l, pgext.mounted_extensions m
 WHERE m.name = 'pgext_fixture' AND l.module_name = 'pgext_fixture';
DROP EXTENSION pgext_fixture;

-- Privileges: superusers and pg_monitor only.
CREATE ROLE pgext_regress_nobody;
SET ROLE pgext_regress_nobody;
SELECT count(*) FROM pgext.mounted_extensions;
SELECT count(*) FROM pgext.mounted_extensions();
RESET ROLE;
DROP ROLE pgext_regress_nobody;
