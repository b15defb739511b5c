\echo Use "ALTER EXTENSION pgext UPDATE TO '0.3.0'" to load this file. \quit
-- pgext 0.2.0 -> 0.3.0. tests/upgrade/run.sh proves that this script applied to a 0.2.0 install
-- (and 0.1.0 -> 0.2.0 -> 0.3.0) gives exactly the objects, columns, grants and comments of a
-- fresh 0.3.0 install.

-- cosign signatures (key-based): image_checks records each check's signature verdict, and
-- mounted_images gains signature, signed_by and image_metadata (a changed row type: the view is
-- made again).
ALTER TABLE pgext.image_checks ADD COLUMN signature text, ADD COLUMN signed_by text,
  ADD COLUMN signature_detail text;
-- Image metadata (platform, labels, annotations, attestations) recorded by each verification;
-- mounted_images shows it as image_metadata, judged against the server.
ALTER TABLE pgext.image_checks ADD COLUMN metadata jsonb;
-- Keyless cosign signatures: when the signature was logged (its transparency-log entry's time).
ALTER TABLE pgext.image_checks ADD COLUMN signed_at timestamptz;
-- CloudNativePG 1.29's bin_path and env: mounted_images gains on_path and env. The function
-- returns the difference counts as one array (a pgrx row holds at most 32 columns); the view
-- spreads them into the columns it always had.
DROP VIEW pgext.mounted_images;
DROP FUNCTION pgext.mounted_images();
CREATE FUNCTION pgext."mounted_images"() RETURNS TABLE (
	"name" TEXT,  /* String */
	"root" TEXT,  /* String */
	"mounted" bool,  /* bool */
	"read_only" bool,  /* Option < bool > */
	"fs_type" TEXT,  /* Option < String > */
	"mount_options" TEXT[],  /* :: std :: option :: Option < Vec < String > > */
	"on_control_path" TEXT[],  /* Vec < String > */
	"on_library_path" TEXT[],  /* Vec < String > */
	"on_ld_library_path" TEXT[],  /* Vec < String > */
	"on_path" TEXT[],  /* Vec < String > */
	"env" TEXT[],  /* Vec < String > */
	"not_on_path" TEXT[],  /* Vec < String > */
	"file_count" bigint,  /* Option < i64 > */
	"total_bytes" bigint,  /* Option < i64 > */
	"extension_count" INT,  /* i32 */
	"library_count" INT,  /* i32 */
	"tree_digest" TEXT,  /* Option < String > */
	"reference" TEXT,  /* Option < String > */
	"pin_source" TEXT,  /* Option < String > */
	"pinned_digest" TEXT,  /* Option < String > */
	"resolved_digest" TEXT,  /* Option < String > */
	"status" TEXT,  /* String */
	"verified_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"checked_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"differences" INT[],  /* Option < Vec < i32 > > */
	"problems" TEXT[],  /* Vec < String > */
	"problem_details" jsonb,  /* JsonB */
	"signature" TEXT,  /* Option < String > */
	"signed_by" TEXT,  /* Option < String > */
	"signed_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"image_metadata" jsonb  /* Option < JsonB > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'mounted_images_wrapper';
CREATE VIEW pgext.mounted_images AS
SELECT name, root, mounted, read_only, fs_type, mount_options, on_control_path, on_library_path,
       on_ld_library_path, on_path, env, not_on_path, file_count, total_bytes, extension_count,
       library_count, tree_digest, reference, pin_source, pinned_digest, resolved_digest, status,
       verified_at, checked_at, differences[1] AS missing, differences[2] AS modified,
       differences[3] AS unexpected, differences[4] AS changed, problems, problem_details,
       signature, signed_by, signed_at, image_metadata
  FROM pgext.mounted_images();
COMMENT ON VIEW pgext.mounted_images IS
  'Every extension image under pgext.extensions_root: mount, settings coverage, contents, tree digest';
REVOKE ALL ON FUNCTION pgext.mounted_images() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.mounted_images() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.mounted_images FROM PUBLIC;
GRANT SELECT ON pgext.mounted_images TO pg_monitor, pgext_admin;

-- Pre-flight: verdicts for images judged against another server directory (pgext-check in SQL).
CREATE FUNCTION pgext."preflight"(
	"server" TEXT, /* Option < & str > */
	"images" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"preload" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"name" TEXT,  /* String */
	"image" TEXT,  /* Option < String > */
	"default_version" TEXT,  /* Option < String > */
	"compatible" bool,  /* Option < bool > */
	"problems" TEXT[],  /* Vec < String > */
	"problem_details" jsonb,  /* JsonB */
	"usable" bool,  /* bool */
	"usable_problems" TEXT[],  /* Vec < String > */
	"usable_problem_details" jsonb,  /* JsonB */
	"libraries" jsonb  /* JsonB */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'preflight_wrapper';
COMMENT ON FUNCTION pgext.preflight(text, text[], text) IS
  'Verdicts of mounted_extensions for images (name=directory or name=reference, or NULL: the mounted ones) judged against another server (a directory or an image reference, fetched and unpacked)';
REVOKE ALL ON FUNCTION pgext.preflight(text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.preflight(text, text[], text) TO pgext_admin;

-- The worker publishes each image's signature verdict: image_status gains signature.
DROP VIEW pgext.image_status;
DROP FUNCTION pgext.image_status();
CREATE FUNCTION pgext."image_status"() RETURNS TABLE (
	"image" TEXT,  /* String */
	"reference" TEXT,  /* Option < String > */
	"mounted" bool,  /* bool */
	"pinned" bool,  /* bool */
	"status" TEXT,  /* String */
	"status_since" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"missing" INT,  /* i32 */
	"modified" INT,  /* i32 */
	"unexpected" INT,  /* i32 */
	"changed" INT,  /* i32 */
	"extensions" INT,  /* i32 */
	"incompatible_extensions" TEXT[],  /* :: std :: option :: Option < Vec < String > > */
	"problems" INT,  /* i32 */
	"problem" TEXT,  /* Option < String > */
	"last_checked" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_verified" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_verify_attempt" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"registry_status" TEXT,  /* Option < String > */
	"error_code" TEXT,  /* Option < String > */
	"last_error" TEXT,  /* Option < String > */
	"signature" TEXT  /* Option < String > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'image_status_wrapper';
CREATE VIEW pgext.image_status AS SELECT * FROM pgext.image_status();
COMMENT ON VIEW pgext.image_status IS 'Each image as the pgext background worker last saw it (shared memory)';
REVOKE ALL ON FUNCTION pgext.image_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.image_status() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.image_status FROM PUBLIC;
GRANT SELECT ON pgext.image_status TO pg_monitor, pgext_admin;

-- Backends start their digest cache from the worker's shared file; this shows it.
CREATE FUNCTION pgext."hash_cache_status"() RETURNS TABLE (
	"entries" bigint,  /* i64 */
	"from_worker" bigint,  /* Option < i64 > */
	"hits" bigint,  /* i64 */
	"misses" bigint  /* i64 */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'hash_cache_status_wrapper';
COMMENT ON FUNCTION pgext.hash_cache_status() IS
  'This session''s file digest cache: entries, those taken over from the background worker, hits, misses';
REVOKE ALL ON FUNCTION pgext.hash_cache_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.hash_cache_status() TO pg_monitor, pgext_admin;

-- A new session starts from rows the worker or another session left; this shows where a
-- session's rows came from.
CREATE FUNCTION pgext."row_sources"() RETURNS TABLE (
	"view" TEXT,  /* alloc::string::String */
	"source" TEXT  /* core::option::Option<alloc::string::String> */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'row_sources_wrapper';
COMMENT ON FUNCTION pgext.row_sources() IS
  'Where this session''s last rows of mounted_extensions, libraries and library_compat came from: computed, backend (its own, revalidated) or shared (the worker''s or another session''s, revalidated); for mounted_images, the least reused of its image trees (only read-only mounts keep and share theirs)';
REVOKE ALL ON FUNCTION pgext.row_sources() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.row_sources() TO pg_monitor, pgext_admin;

-- Major-upgrade pre-flight (pgext-check upgrade in SQL) and the ALTER EXTENSION … UPDATE
-- pre-flight of this database (issue #27).
CREATE FUNCTION pgext."upgrade_preflight"(
	"server" TEXT, /* core::option::Option<&str> */
	"images" TEXT[], /* core::option::Option<alloc::vec::Vec<core::option::Option<alloc::string::String>>> */
	"old_images" TEXT[] DEFAULT NULL, /* core::option::Option<alloc::vec::Vec<core::option::Option<alloc::string::String>>> */
	"ld_library_path_order" TEXT DEFAULT 'old-first', /* core::option::Option<&str> */
	"preload" TEXT DEFAULT '' /* core::option::Option<&str> */
) RETURNS jsonb /* pgrx::datum::json::JsonB */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'upgrade_preflight_wrapper';
CREATE FUNCTION pgext."extension_updates"() RETURNS TABLE (
	"name" TEXT,  /* alloc::string::String */
	"installed_version" TEXT,  /* alloc::string::String */
	"default_version" TEXT,  /* core::option::Option<alloc::string::String> */
	"update_path" TEXT[],  /* core::option::Option<alloc::vec::Vec<alloc::string::String>> */
	"updatable" bool,  /* core::option::Option<bool> */
	"problems" TEXT[],  /* alloc::vec::Vec<alloc::string::String> */
	"problem_details" jsonb  /* pgrx::datum::json::JsonB */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'extension_updates_wrapper';
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
