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

-- Comments on every object and column, so that \d+ and \df+ explain themselves (issue #29;
-- the same statements as sql/comments.sql, which a fresh install runs last).
-- Functions behind the views and the ones called directly.
COMMENT ON FUNCTION pgext.extension_paths() IS
  'Rows of the view pgext.extension_paths: each element of extension_control_path and dynamic_library_path as PostgreSQL 18 expands it';
COMMENT ON FUNCTION pgext.mounted_images() IS
  'Rows of the view pgext.mounted_images (differences as one array: missing, modified, unexpected, changed)';
COMMENT ON FUNCTION pgext.mounted_extensions() IS 'Rows of the view pgext.mounted_extensions';
COMMENT ON FUNCTION pgext.libraries() IS 'Rows of the view pgext.libraries';
COMMENT ON FUNCTION pgext.library_compat() IS 'Rows of the view pgext.library_compat';
COMMENT ON FUNCTION pgext.check_extension(text) IS
  'The whole reasoning behind one extension''s verdicts as jsonb: its copies, install path, script references, each library with its dependency resolution and problems, requirements, compatible, usable';
COMMENT ON FUNCTION pgext.reset_hash_cache() IS
  'Forgets this session''s file digests, ELF analyses and kept rows; the next query derives everything itself. Returns the number of digests forgotten';
COMMENT ON FUNCTION pgext.image_pins() IS 'Rows of the view pgext.image_pins';
COMMENT ON FUNCTION pgext.pin_image(text, text) IS
  'Pins an image (name, reference) in pgext.pins; the pgext.images setting wins on conflict. Superuser or pgext_admin';
COMMENT ON FUNCTION pgext.unpin_image(text) IS
  'Removes a table pin; true when there was one. Superuser or pgext_admin';
COMMENT ON FUNCTION pgext.verify_image(text) IS
  'Verifies one mounted image against its pinned reference (registry or OCI layout): digests, the expected tree rebuilt from the layers, cosign signatures, image metadata; records the outcome (on a primary)';
COMMENT ON FUNCTION pgext.verify_images() IS 'pgext.verify_image() for every pinned image';
COMMENT ON FUNCTION pgext.recheck_image(text) IS
  'Re-hashes a mount against the tree recorded by its last verification, without network';
COMMENT ON FUNCTION pgext.worker_status() IS 'Rows of the view pgext.worker_status (shared memory; needs preloading)';
COMMENT ON FUNCTION pgext.image_status() IS 'Rows of the view pgext.image_status (shared memory; needs preloading)';
COMMENT ON FUNCTION pgext.health() IS 'Rows of the view pgext.health (shared memory; needs preloading)';
COMMENT ON FUNCTION pgext.check_now(boolean) IS
  'Wakes the background worker for an immediate cycle; with wait, returns once a cycle started after the call has completed; false when no worker runs';
COMMENT ON FUNCTION pgext.enforcement_log() IS 'Rows of the view pgext.enforcement_log (shared memory)';
COMMENT ON FUNCTION pgext.enforcement_status() IS 'Rows of the view pgext.enforcement_status (shared memory)';

COMMENT ON VIEW pgext.image_pins IS 'Every pin, from the pgext.images setting and from pgext.pins, and which one is in effect';

COMMENT ON INDEX pgext.check_runs_started_at IS 'Pruning by age (pgext.history_retention)';
COMMENT ON INDEX pgext.findings_run_id IS 'Findings of one run';

-- pgext.extension_paths
COMMENT ON COLUMN pgext.extension_paths.kind IS 'control (extension_control_path) or library (dynamic_library_path)';
COMMENT ON COLUMN pgext.extension_paths.position IS '1-based position in search order';
COMMENT ON COLUMN pgext.extension_paths.element IS 'The element exactly as written in the setting';
COMMENT ON COLUMN pgext.extension_paths.directory IS
  'The directory PostgreSQL 18 really searches ($system expanded, /extension appended); NULL where a lookup raises an error instead';
COMMENT ON COLUMN pgext.extension_paths.is_system IS 'The element is $system or $libdir';
COMMENT ON COLUMN pgext.extension_paths.exists IS 'The directory exists, as the server process sees it';
COMMENT ON COLUMN pgext.extension_paths.is_dir IS 'It is a directory';
COMMENT ON COLUMN pgext.extension_paths.readable IS 'The server''s user can list it';
COMMENT ON COLUMN pgext.extension_paths.read_only IS 'It is on a read-only mount (statvfs): true for image volumes';
COMMENT ON COLUMN pgext.extension_paths.problem IS
  'A problem code (missing, not_a_directory, unreadable, relative, empty, invalid_macro, duplicate) or NULL';
COMMENT ON COLUMN pgext.extension_paths.detail IS 'What the problem means for PostgreSQL';

-- pgext.mounted_images
COMMENT ON COLUMN pgext.mounted_images.name IS 'Image name: its directory below pgext.extensions_root';
COMMENT ON COLUMN pgext.mounted_images.root IS 'Mount root (pgext.extensions_root/name)';
COMMENT ON COLUMN pgext.mounted_images.mounted IS 'The root exists (a failed mount makes its extensions vanish without a word)';
COMMENT ON COLUMN pgext.mounted_images.read_only IS 'The root is on a read-only mount (statvfs)';
COMMENT ON COLUMN pgext.mounted_images.fs_type IS 'File system type, from /proc/self/mountinfo';
COMMENT ON COLUMN pgext.mounted_images.mount_options IS 'Mount options, from /proc/self/mountinfo';
COMMENT ON COLUMN pgext.mounted_images.on_control_path IS 'Image-relative directories extension_control_path points at';
COMMENT ON COLUMN pgext.mounted_images.on_library_path IS 'Image-relative directories dynamic_library_path points at';
COMMENT ON COLUMN pgext.mounted_images.on_ld_library_path IS 'Image-relative directories on the server''s LD_LIBRARY_PATH (CloudNativePG ld_library_path)';
COMMENT ON COLUMN pgext.mounted_images.on_path IS 'Image-relative directories on the server''s PATH (CloudNativePG 1.29 bin_path)';
COMMENT ON COLUMN pgext.mounted_images.env IS 'Server environment variables pointing into the image, as NAME=value (CloudNativePG 1.29 env)';
COMMENT ON COLUMN pgext.mounted_images.not_on_path IS 'Conventional directories the image has that no setting uses (share/extension, lib, system)';
COMMENT ON COLUMN pgext.mounted_images.file_count IS 'Regular files in the tree';
COMMENT ON COLUMN pgext.mounted_images.total_bytes IS 'Bytes of the regular files';
COMMENT ON COLUMN pgext.mounted_images.extension_count IS 'Rows of pgext.mounted_extensions from this image';
COMMENT ON COLUMN pgext.mounted_images.library_count IS 'Rows of pgext.libraries from this image';
COMMENT ON COLUMN pgext.mounted_images.tree_digest IS 'Canonical SHA-256 of the whole tree (recompute with scripts/tree-digest.sh)';
COMMENT ON COLUMN pgext.mounted_images.reference IS 'The pin in effect';
COMMENT ON COLUMN pgext.mounted_images.pin_source IS 'Where the pin comes from: setting (pgext.images) or table (pgext.pins)';
COMMENT ON COLUMN pgext.mounted_images.pinned_digest IS 'The digest in the pinned reference';
COMMENT ON COLUMN pgext.mounted_images.resolved_digest IS 'The manifest digest last verified against';
COMMENT ON COLUMN pgext.mounted_images.status IS 'verified, drift, tag_moved, unpinned, unreachable, error or never_checked';
COMMENT ON COLUMN pgext.mounted_images.verified_at IS 'Last verification against the source';
COMMENT ON COLUMN pgext.mounted_images.checked_at IS 'Last verification or local recheck';
COMMENT ON COLUMN pgext.mounted_images.missing IS 'Files of the pinned image missing from the mount, at the last check';
COMMENT ON COLUMN pgext.mounted_images.modified IS 'Files whose content differs from the pinned image, at the last check';
COMMENT ON COLUMN pgext.mounted_images.unexpected IS 'Files in the mount the pinned image does not have, at the last check';
COMMENT ON COLUMN pgext.mounted_images.changed IS 'Entries whose type, mode or link target differs, at the last check';
COMMENT ON COLUMN pgext.mounted_images.problems IS 'Problem codes of the image';
COMMENT ON COLUMN pgext.mounted_images.problem_details IS 'One {code, severity, message} object per finding';
COMMENT ON COLUMN pgext.mounted_images.signature IS 'Cosign verdict of the last verification: signed, unsigned, invalid, untrusted, unreachable, error';
COMMENT ON COLUMN pgext.mounted_images.signed_by IS 'The trusted key (key:sha256:<hex>) or keyless identity (<subject> (issuer <issuer>)) that signed';
COMMENT ON COLUMN pgext.mounted_images.signed_at IS 'Integrated time of a keyless signature''s transparency-log entry';
COMMENT ON COLUMN pgext.mounted_images.image_metadata IS 'Platform, labels, annotations and attestations of the verified image, judged against this server';

-- pgext.mounted_extensions
COMMENT ON COLUMN pgext.mounted_extensions.name IS 'Extension name';
COMMENT ON COLUMN pgext.mounted_extensions.image IS 'Image the control file is in; NULL outside pgext.extensions_root';
COMMENT ON COLUMN pgext.mounted_extensions.is_system IS 'Found in $system (the server''s own share/extension)';
COMMENT ON COLUMN pgext.mounted_extensions.position IS 'Position of its directory on extension_control_path';
COMMENT ON COLUMN pgext.mounted_extensions.control_file IS 'The primary control file';
COMMENT ON COLUMN pgext.mounted_extensions.script_directory IS 'Script directory PostgreSQL 18 uses (directory resolved against the control directory minus /extension)';
COMMENT ON COLUMN pgext.mounted_extensions.default_version IS 'default_version of the control file';
COMMENT ON COLUMN pgext.mounted_extensions.installable_versions IS 'Versions CREATE EXTENSION can install (install scripts and update chains), as pg_available_extension_versions()';
COMMENT ON COLUMN pgext.mounted_extensions.installed_version IS 'Version installed in the current database';
COMMENT ON COLUMN pgext.mounted_extensions.update_path_exists IS 'ALTER EXTENSION UPDATE can reach the default version';
COMMENT ON COLUMN pgext.mounted_extensions.update_path IS 'The ALTER EXTENSION UPDATE steps to the default version';
COMMENT ON COLUMN pgext.mounted_extensions.module_pathname IS 'module_pathname of the control file';
COMMENT ON COLUMN pgext.mounted_extensions.library IS 'The file module_pathname resolves to under PostgreSQL 18''s dfmgr rules';
COMMENT ON COLUMN pgext.mounted_extensions.requires IS 'Required extensions (control file)';
COMMENT ON COLUMN pgext.mounted_extensions.superuser IS 'superuser (control file)';
COMMENT ON COLUMN pgext.mounted_extensions.trusted IS 'trusted (control file)';
COMMENT ON COLUMN pgext.mounted_extensions.relocatable IS 'relocatable (control file)';
COMMENT ON COLUMN pgext.mounted_extensions.schema IS 'schema (control file)';
COMMENT ON COLUMN pgext.mounted_extensions.comment IS 'comment (control file)';
COMMENT ON COLUMN pgext.mounted_extensions.visible IS 'PostgreSQL uses this copy (the first on the path)';
COMMENT ON COLUMN pgext.mounted_extensions.shadowed_by IS 'The control file PostgreSQL uses instead of this copy';
COMMENT ON COLUMN pgext.mounted_extensions.compatible IS
  'Visible copy: CREATE EXTENSION ... CASCADE of the default version is predicted to succeed now; NULL when undecided (preload_undecided)';
COMMENT ON COLUMN pgext.mounted_extensions.problems IS 'Problem codes, each once: errors, then warnings, then infos';
COMMENT ON COLUMN pgext.mounted_extensions.problem_details IS 'One {code, severity, message} object per finding';
COMMENT ON COLUMN pgext.mounted_extensions.usable IS
  'Visible copy: works once used: every library it names loads (preload-only counts as loadable) and every requirement is usable';
COMMENT ON COLUMN pgext.mounted_extensions.usable_problems IS 'Problem codes usable rests on';
COMMENT ON COLUMN pgext.mounted_extensions.usable_problem_details IS 'One {code, severity, message} object per finding behind usable';

-- pgext.libraries
COMMENT ON COLUMN pgext.libraries.path IS 'The library file';
COMMENT ON COLUMN pgext.libraries.basename IS 'File name, as LOAD and AS ''name'' use it';
COMMENT ON COLUMN pgext.libraries.image IS 'Image the file is in; NULL outside pgext.extensions_root';
COMMENT ON COLUMN pgext.libraries.source IS 'library_path (a dynamic_library_path directory) or system (an image''s system/ directory)';
COMMENT ON COLUMN pgext.libraries.position IS 'Position of its directory on dynamic_library_path';
COMMENT ON COLUMN pgext.libraries.size IS 'Size in bytes';
COMMENT ON COLUMN pgext.libraries.sha256 IS 'SHA-256 of the file';
COMMENT ON COLUMN pgext.libraries.shadowed_by IS 'An earlier library of the same name on the path, which PostgreSQL loads instead';
COMMENT ON COLUMN pgext.libraries.referenced_by IS 'Visible extensions whose module_pathname or scripts name it';
COMMENT ON COLUMN pgext.libraries.problems IS 'Problem codes';
COMMENT ON COLUMN pgext.libraries.problem_details IS 'One {code, severity, message} object per finding';

-- pgext.library_compat
COMMENT ON COLUMN pgext.library_compat.path IS 'The library file (a row of pgext.libraries)';
COMMENT ON COLUMN pgext.library_compat.image IS 'Image the file is in';
COMMENT ON COLUMN pgext.library_compat.source IS 'library_path or system';
COMMENT ON COLUMN pgext.library_compat.loadable IS 'A LOAD of it succeeds now (ELF analysis and the preload rule); NULL when undecided';
COMMENT ON COLUMN pgext.library_compat.machine IS 'ELF machine';
COMMENT ON COLUMN pgext.library_compat.magic_version IS 'PostgreSQL major of its magic block';
COMMENT ON COLUMN pgext.library_compat.magic_abi_extra IS 'abi_extra of its magic block (PostgreSQL; forks differ)';
COMMENT ON COLUMN pgext.library_compat.module_name IS 'Module name from PG_MODULE_MAGIC_EXT (PostgreSQL 18)';
COMMENT ON COLUMN pgext.library_compat.module_version IS 'Module version from PG_MODULE_MAGIC_EXT (PostgreSQL 18)';
COMMENT ON COLUMN pgext.library_compat.glibc_needed IS 'Newest GLIBC symbol version it needs';
COMMENT ON COLUMN pgext.library_compat.glibc_available IS 'Newest GLIBC symbol version the server''s libc defines';
COMMENT ON COLUMN pgext.library_compat.needed IS 'DT_NEEDED libraries';
COMMENT ON COLUMN pgext.library_compat.missing_libraries IS 'DT_NEEDED libraries ld.so would not find';
COMMENT ON COLUMN pgext.library_compat.undefined_symbols IS 'Non-weak undefined symbols nothing loaded defines';
COMMENT ON COLUMN pgext.library_compat.problems IS 'Problem codes';
COMMENT ON COLUMN pgext.library_compat.problem_details IS 'One {code, severity, message} object per finding';
COMMENT ON COLUMN pgext.library_compat.preload IS 'none, recommended, required or undecided (its _PG_init without shared_preload_libraries); NULL for OS libraries';
COMMENT ON COLUMN pgext.library_compat.preloaded IS 'It is in shared_preload_libraries';

-- pgext.image_pins
COMMENT ON COLUMN pgext.image_pins.name IS 'Image name';
COMMENT ON COLUMN pgext.image_pins.reference IS 'The pinned reference';
COMMENT ON COLUMN pgext.image_pins.source IS 'setting (pgext.images) or table (pgext.pins)';
COMMENT ON COLUMN pgext.image_pins.effective IS 'This pin is the one in effect (the setting wins over the table)';

-- pgext.enforcement_log
COMMENT ON COLUMN pgext.enforcement_log.seq IS 'Decision number since server start';
COMMENT ON COLUMN pgext.enforcement_log.at IS 'When';
COMMENT ON COLUMN pgext.enforcement_log.pid IS 'Backend process';
COMMENT ON COLUMN pgext.enforcement_log.database IS 'Database';
COMMENT ON COLUMN pgext.enforcement_log.role IS 'Role that ran the statement';
COMMENT ON COLUMN pgext.enforcement_log.action IS 'What was judged: create_extension, alter_extension, load, create_function, session_preload or local_preload';
COMMENT ON COLUMN pgext.enforcement_log.object IS 'The extension or library';
COMMENT ON COLUMN pgext.enforcement_log.image IS 'The image it comes from';
COMMENT ON COLUMN pgext.enforcement_log.outcome IS 'allowed, warned, refused or exempt';
COMMENT ON COLUMN pgext.enforcement_log.failed IS 'Conditions of pgext.require that failed';
COMMENT ON COLUMN pgext.enforcement_log.detail IS 'The evidence';

-- pgext.enforcement_status
COMMENT ON COLUMN pgext.enforcement_status.mode IS 'pgext.enforce in effect: off, warn or on';
COMMENT ON COLUMN pgext.enforcement_status.require IS 'pgext.require in effect';
COMMENT ON COLUMN pgext.enforcement_status.exempt IS 'pgext.enforce_exempt in effect';
COMMENT ON COLUMN pgext.enforcement_status.hook_installed IS 'pgext is preloaded and its hooks are installed';
COMMENT ON COLUMN pgext.enforcement_status.allowed IS 'Uses allowed since server start';
COMMENT ON COLUMN pgext.enforcement_status.warned IS 'Uses that failed pgext.require and ran (warn) since server start';
COMMENT ON COLUMN pgext.enforcement_status.refused IS 'Statements refused since server start';
COMMENT ON COLUMN pgext.enforcement_status.exempted IS 'Uses allowed by pgext.enforce_exempt since server start';
COMMENT ON COLUMN pgext.enforcement_status.problem IS 'Why nothing is enforced although pgext.enforce is set, or NULL';

-- pgext.worker_status
COMMENT ON COLUMN pgext.worker_status.up IS 'The background worker runs';
COMMENT ON COLUMN pgext.worker_status.pid IS 'Its process';
COMMENT ON COLUMN pgext.worker_status.database IS 'Database it connects to (pgext.database)';
COMMENT ON COLUMN pgext.worker_status.started_at IS 'When it started';
COMMENT ON COLUMN pgext.worker_status.in_recovery IS 'It runs on a standby (no history is written)';
COMMENT ON COLUMN pgext.worker_status.extension_installed IS 'pgext is installed in its database (pins and recorded checks are read from there)';
COMMENT ON COLUMN pgext.worker_status.cycles IS 'Check cycles completed since it started';
COMMENT ON COLUMN pgext.worker_status.cycle_running IS 'A cycle is running now';
COMMENT ON COLUMN pgext.worker_status.activity IS 'What it is doing (as in pg_stat_activity)';
COMMENT ON COLUMN pgext.worker_status.last_cycle_started_at IS 'Start of the last cycle';
COMMENT ON COLUMN pgext.worker_status.last_cycle_duration IS 'Duration of the last cycle';
COMMENT ON COLUMN pgext.worker_status.last_cycle_outcome IS 'ok, problems or error';
COMMENT ON COLUMN pgext.worker_status.last_success_at IS 'End of the last cycle that did not fail';
COMMENT ON COLUMN pgext.worker_status.next_cycle_at IS 'When the next cycle starts';
COMMENT ON COLUMN pgext.worker_status.check_interval IS 'pgext.check_interval as applied';
COMMENT ON COLUMN pgext.worker_status.verify_interval IS 'pgext.verify_interval as applied';
COMMENT ON COLUMN pgext.worker_status.images IS 'Images tracked in shared memory';
COMMENT ON COLUMN pgext.worker_status.untracked_images IS 'Images beyond pgext.max_tracked_images';
COMMENT ON COLUMN pgext.worker_status.max_tracked_images IS 'pgext.max_tracked_images';
COMMENT ON COLUMN pgext.worker_status.last_error IS 'Error of the last failed step, or NULL';

-- pgext.image_status
COMMENT ON COLUMN pgext.image_status.image IS 'Image name';
COMMENT ON COLUMN pgext.image_status.reference IS 'The pin in effect';
COMMENT ON COLUMN pgext.image_status.mounted IS 'The image is mounted';
COMMENT ON COLUMN pgext.image_status.pinned IS 'It has a pin';
COMMENT ON COLUMN pgext.image_status.status IS 'verified, drift, tag_moved, unpinned, unreachable, error or never_checked';
COMMENT ON COLUMN pgext.image_status.status_since IS 'When status last changed';
COMMENT ON COLUMN pgext.image_status.missing IS 'Files of the pinned image missing from the mount';
COMMENT ON COLUMN pgext.image_status.modified IS 'Files whose content differs';
COMMENT ON COLUMN pgext.image_status.unexpected IS 'Files the pinned image does not have';
COMMENT ON COLUMN pgext.image_status.changed IS 'Entries whose type, mode or link target differs';
COMMENT ON COLUMN pgext.image_status.extensions IS 'Extensions the image provides';
COMMENT ON COLUMN pgext.image_status.incompatible_extensions IS 'Extensions of the image predicted not to load';
COMMENT ON COLUMN pgext.image_status.problems IS 'Inventory problems (errors and warnings) of the image and its extensions';
COMMENT ON COLUMN pgext.image_status.problem IS 'The first of them, as text';
COMMENT ON COLUMN pgext.image_status.last_checked IS 'Last comparison of the mount with the pinned image';
COMMENT ON COLUMN pgext.image_status.last_verified IS 'Last successful verification against the source';
COMMENT ON COLUMN pgext.image_status.last_verify_attempt IS 'Last verification attempt';
COMMENT ON COLUMN pgext.image_status.registry_status IS 'ok, tag_moved, unreachable or error';
COMMENT ON COLUMN pgext.image_status.error_code IS 'Class of the last verification failure (unreachable, timeout, auth, not_found, digest_mismatch, scan_failed, ...)';
COMMENT ON COLUMN pgext.image_status.last_error IS 'The last error, as text';
COMMENT ON COLUMN pgext.image_status.signature IS 'Cosign verdict of the last verification, as in pgext.mounted_images';

-- pgext.health
COMMENT ON COLUMN pgext.health.status IS 'ok, degraded or failing';
COMMENT ON COLUMN pgext.health.reasons IS 'Why, one reason per element';
COMMENT ON COLUMN pgext.health.worker_up IS 'The background worker runs';
COMMENT ON COLUMN pgext.health.last_check_at IS 'End of its last successful cycle';

-- Tables
COMMENT ON COLUMN pgext.pins.name IS 'Image name';
COMMENT ON COLUMN pgext.pins.reference IS 'Pinned reference: registry/repo:tag@sha256:..., oci:DIR[:tag] or oci-archive:FILE[:tag]';
COMMENT ON COLUMN pgext.pins.pinned_at IS 'When it was pinned';
COMMENT ON COLUMN pgext.pins.pinned_by IS 'Who pinned it';

COMMENT ON COLUMN pgext.image_checks.name IS 'Image name';
COMMENT ON COLUMN pgext.image_checks.reference IS 'The pin the check was for';
COMMENT ON COLUMN pgext.image_checks.pin_source IS 'setting or table';
COMMENT ON COLUMN pgext.image_checks.status IS 'verified, drift, tag_moved, unreachable or error';
COMMENT ON COLUMN pgext.image_checks.resolved_digest IS 'Manifest digest verified against';
COMMENT ON COLUMN pgext.image_checks.tag_digest IS 'Digest the tag named at verification (differs from the pinned one: tag_moved)';
COMMENT ON COLUMN pgext.image_checks.expected_tree_digest IS 'Tree digest of the image rebuilt from its layers';
COMMENT ON COLUMN pgext.image_checks.actual_tree_digest IS 'Tree digest of the mount';
COMMENT ON COLUMN pgext.image_checks.missing IS 'Files missing from the mount';
COMMENT ON COLUMN pgext.image_checks.modified IS 'Files whose content differs';
COMMENT ON COLUMN pgext.image_checks.unexpected IS 'Files the image does not have';
COMMENT ON COLUMN pgext.image_checks.type_changed IS 'Entries of another type';
COMMENT ON COLUMN pgext.image_checks.mode_changed IS 'Entries with another mode';
COMMENT ON COLUMN pgext.image_checks.link_changed IS 'Symbolic links with another target';
COMMENT ON COLUMN pgext.image_checks.error_code IS 'Class of failure, or NULL';
COMMENT ON COLUMN pgext.image_checks.error IS 'The failure, as text (never a registry''s own words or credentials)';
COMMENT ON COLUMN pgext.image_checks.verified_at IS 'Last verification against the source';
COMMENT ON COLUMN pgext.image_checks.checked_at IS 'Last verification or recheck';
COMMENT ON COLUMN pgext.image_checks.signature IS 'Cosign verdict: signed, unsigned, invalid, untrusted, unreachable, error';
COMMENT ON COLUMN pgext.image_checks.signed_by IS 'Trusted key or keyless identity that signed';
COMMENT ON COLUMN pgext.image_checks.signature_detail IS 'Why the signature got its verdict';
COMMENT ON COLUMN pgext.image_checks.metadata IS 'Platform, labels, annotations and attestations the image declares';
COMMENT ON COLUMN pgext.image_checks.signed_at IS 'Integrated time of a keyless signature''s transparency-log entry';

COMMENT ON COLUMN pgext.image_files.name IS 'Image name';
COMMENT ON COLUMN pgext.image_files.path IS 'Path inside the image';
COMMENT ON COLUMN pgext.image_files.kind IS 'file, dir or symlink';
COMMENT ON COLUMN pgext.image_files.mode IS 'Permission bits';
COMMENT ON COLUMN pgext.image_files.size IS 'Size in bytes (files)';
COMMENT ON COLUMN pgext.image_files.sha256 IS 'SHA-256 of the content (files)';
COMMENT ON COLUMN pgext.image_files.link_target IS 'Target (symbolic links)';

COMMENT ON COLUMN pgext.image_differences.name IS 'Image name';
COMMENT ON COLUMN pgext.image_differences.path IS 'Path inside the image';
COMMENT ON COLUMN pgext.image_differences.kind IS 'missing, modified, unexpected, type_changed, mode_changed or link_changed';
COMMENT ON COLUMN pgext.image_differences.expected IS 'What the pinned image has';
COMMENT ON COLUMN pgext.image_differences.actual IS 'What the mount has';

COMMENT ON COLUMN pgext.check_runs.id IS 'Run number';
COMMENT ON COLUMN pgext.check_runs.started_at IS 'Start of the cycle';
COMMENT ON COLUMN pgext.check_runs.duration IS 'Its duration';
COMMENT ON COLUMN pgext.check_runs.outcome IS 'ok, problems or error';
COMMENT ON COLUMN pgext.check_runs.images IS 'Images checked';
COMMENT ON COLUMN pgext.check_runs.verified IS 'Images verified';
COMMENT ON COLUMN pgext.check_runs.drift IS 'Images that drifted';
COMMENT ON COLUMN pgext.check_runs.unreachable IS 'Images whose source was unreachable';
COMMENT ON COLUMN pgext.check_runs.errors IS 'Images whose check failed';
COMMENT ON COLUMN pgext.check_runs.incompatible IS 'Extensions predicted not to load';
COMMENT ON COLUMN pgext.check_runs.findings IS 'Rows written to pgext.findings';

COMMENT ON COLUMN pgext.findings.run_id IS 'The run (pgext.check_runs.id)';
COMMENT ON COLUMN pgext.findings.image IS 'Image concerned, or NULL';
COMMENT ON COLUMN pgext.findings.extension IS 'Extension concerned, or NULL';
COMMENT ON COLUMN pgext.findings.code IS 'Problem code';
COMMENT ON COLUMN pgext.findings.severity IS 'error or warning';
COMMENT ON COLUMN pgext.findings.message IS 'What was found';

-- Enforcement at every load (#25): pgext.enforce judges the first lookup of each C function
-- in every session; the day-2 preview of what `on` would refuse; the trigger that drops every
-- backend's cached decisions when pins or recorded checks change.
CREATE FUNCTION pgext."enforcement_preview"() RETURNS TABLE (
	"kind" TEXT,  /* alloc::string::String */
	"object" TEXT,  /* alloc::string::String */
	"extension" TEXT,  /* core::option::Option<alloc::string::String> */
	"library" TEXT,  /* core::option::Option<alloc::string::String> */
	"image" TEXT,  /* core::option::Option<alloc::string::String> */
	"decision" TEXT,  /* alloc::string::String */
	"failed" TEXT,  /* core::option::Option<alloc::string::String> */
	"detail" TEXT,  /* core::option::Option<alloc::string::String> */
	"hint" TEXT  /* core::option::Option<alloc::string::String> */
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'enforcement_preview_wrapper';
CREATE FUNCTION pgext."policy_changed"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'policy_changed_wrapper';
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

-- Re-verification without re-downloading: each recorded expected tree is bound to the image
-- manifest whose layers built it and to the rules it was built under; a verification of the
-- same manifest reuses it and downloads no layer.
ALTER TABLE pgext.image_checks ADD COLUMN manifest_digest text, ADD COLUMN tree_format int,
  ADD COLUMN tree_built_at timestamptz;
COMMENT ON COLUMN pgext.image_checks.manifest_digest IS
  'The image manifest whose layers built the recorded expected tree (the platform''s entry of an index)';
COMMENT ON COLUMN pgext.image_checks.tree_format IS
  'The rules the recorded expected tree was built under; a tree of other rules is rebuilt from the layers';
COMMENT ON COLUMN pgext.image_checks.tree_built_at IS
  'When the recorded expected tree was last built from the layers (verifications of the same manifest reuse it)';

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
COMMENT ON COLUMN pgext.extension_updates.name IS 'The installed extension';
COMMENT ON COLUMN pgext.extension_updates.installed_version IS 'Its version in this database (pg_extension.extversion)';
COMMENT ON COLUMN pgext.extension_updates.default_version IS 'The default_version of the control file PostgreSQL would use now (NULL: no control file on extension_control_path)';
COMMENT ON COLUMN pgext.extension_updates.update_path IS 'The versions ALTER EXTENSION … UPDATE would pass through, installed first (NULL: no path)';
COMMENT ON COLUMN pgext.extension_updates.updatable IS 'Whether ALTER EXTENSION … UPDATE would reach the default version: a path exists and every script on it parses';
COMMENT ON COLUMN pgext.extension_updates.problems IS 'Problem codes (script_syntax_error, no_update_path, not_provided, …; the book''s problem-code reference)';
COMMENT ON COLUMN pgext.extension_updates.problem_details IS 'Each problem with its detail (the script and line of a syntax error)';

-- Every version's update path to the default version, checked (issue #27).
CREATE FUNCTION pgext."extension_update_paths"(
	"extension" TEXT DEFAULT NULL /* core::option::Option<&str> */
) RETURNS TABLE (
	"name" TEXT,  /* alloc::string::String */
	"source" TEXT,  /* alloc::string::String */
	"target" TEXT,  /* alloc::string::String */
	"update_path" TEXT[],  /* core::option::Option<alloc::vec::Vec<alloc::string::String>> */
	"updatable" bool,  /* bool */
	"problems" TEXT[],  /* alloc::vec::Vec<alloc::string::String> */
	"problem_details" jsonb  /* pgrx::datum::json::JsonB */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'extension_update_paths_wrapper';
COMMENT ON FUNCTION pgext.extension_update_paths(text) IS
  'For every version the scripts of each visible extension (or of the one named) name: the update path to the default version and whether every script on it parses; pg_extension_update_paths() for the default version as target, checked';
REVOKE ALL ON FUNCTION pgext.extension_update_paths(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.extension_update_paths(text) TO pg_monitor, pgext_admin;

-- pgext.enforcement_status gains `locked` (pgext.enforce_locked, issue #25): the view and its
-- function are made again, with their grants and comments.
DROP VIEW pgext.enforcement_status;
DROP FUNCTION pgext.enforcement_status();
CREATE FUNCTION pgext."enforcement_status"() RETURNS TABLE (
	"mode" TEXT,  /* alloc::string::String */
	"require" TEXT,  /* alloc::string::String */
	"exempt" TEXT,  /* alloc::string::String */
	"hook_installed" bool,  /* bool */
	"allowed" bigint,  /* i64 */
	"warned" bigint,  /* i64 */
	"refused" bigint,  /* i64 */
	"exempted" bigint,  /* i64 */
	"problem" TEXT,  /* core::option::Option<alloc::string::String> */
	"locked" bool  /* bool */
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'enforcement_status_wrapper';
CREATE VIEW pgext.enforcement_status AS SELECT * FROM pgext.enforcement_status();
COMMENT ON VIEW pgext.enforcement_status IS
  'pgext.enforce in effect, whether its hook is installed, and decision counters since server start';
COMMENT ON FUNCTION pgext.enforcement_status() IS 'Rows of the view pgext.enforcement_status (shared memory)';
REVOKE ALL ON FUNCTION pgext.enforcement_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.enforcement_status() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.enforcement_status FROM PUBLIC;
GRANT SELECT ON pgext.enforcement_status TO pg_monitor, pgext_admin;
COMMENT ON COLUMN pgext.enforcement_status.mode IS 'pgext.enforce in effect: off, warn or on';
COMMENT ON COLUMN pgext.enforcement_status.require IS 'pgext.require in effect';
COMMENT ON COLUMN pgext.enforcement_status.exempt IS 'pgext.enforce_exempt in effect';
COMMENT ON COLUMN pgext.enforcement_status.hook_installed IS 'pgext is preloaded and its hooks are installed';
COMMENT ON COLUMN pgext.enforcement_status.allowed IS 'Uses allowed since server start';
COMMENT ON COLUMN pgext.enforcement_status.warned IS 'Uses that failed pgext.require and ran (warn) since server start';
COMMENT ON COLUMN pgext.enforcement_status.refused IS 'Statements refused since server start';
COMMENT ON COLUMN pgext.enforcement_status.exempted IS 'Uses allowed by pgext.enforce_exempt since server start';
COMMENT ON COLUMN pgext.enforcement_status.problem IS 'Why nothing is enforced although pgext.enforce is set, or NULL';
COMMENT ON COLUMN pgext.enforcement_status.locked IS 'pgext.enforce_locked: pgext.enforce stays on until the server restarts without it';
-- SBOM and build provenance (issue #28): the attestations each verification read, judged like
-- signatures; the packages of their SPDX and CycloneDX SBOMs and the builds of their SLSA provenance.
-- Replaced by every verification that read the source; a recheck keeps them.
ALTER TABLE pgext.image_checks ADD COLUMN attestations_detail text;
COMMENT ON COLUMN pgext.image_checks.attestations_detail IS
  'The attestations the last verification read: kind (source, trust) each, those ignored (another digest), or why they could not be read';

CREATE TABLE pgext.image_attestations (
    image pgext.image_name NOT NULL,
    attestation int NOT NULL,
    source text NOT NULL,
    kind text NOT NULL,
    predicate_type text NOT NULL,
    statement_digest text,
    subject_digest text,
    trust text NOT NULL,
    signed_by text,
    signed_at timestamptz,
    detail text,
    PRIMARY KEY (image, attestation)
);
COMMENT ON TABLE pgext.image_attestations IS
  'In-toto attestations of each pinned image (BuildKit attestation manifests in the index, cosign .att envelopes, Sigstore bundle referrers), from its last verification';
COMMENT ON COLUMN pgext.image_attestations.image IS 'Image name';
COMMENT ON COLUMN pgext.image_attestations.attestation IS 'Its number, in the order found (image_packages and image_provenance refer to it)';
COMMENT ON COLUMN pgext.image_attestations.source IS 'Where it was found: buildkit (an attestation manifest in the image index), cosign (the sha256-<hex>.att tag) or referrer (a Sigstore bundle, OCI 1.1 referrer)';
COMMENT ON COLUMN pgext.image_attestations.kind IS 'sbom, provenance, vex, or the predicate type; unreadable for one that could not be read';
COMMENT ON COLUMN pgext.image_attestations.predicate_type IS 'The in-toto statement''s predicate type';
COMMENT ON COLUMN pgext.image_attestations.statement_digest IS 'SHA-256 of the statement''s bytes';
COMMENT ON COLUMN pgext.image_attestations.subject_digest IS 'The subject digest that made it this image''s: the pinned digest, or the platform''s manifest of a pinned index';
COMMENT ON COLUMN pgext.image_attestations.trust IS 'signed (its signature verifies against pgext.trusted_keys or the keyless policy), index_signed (BuildKit''s, in an index whose pinned digest carries a trusted signature), unsigned (BuildKit''s, in an index nobody trusted signed), untrusted or invalid';
COMMENT ON COLUMN pgext.image_attestations.signed_by IS 'Trusted key or keyless identity that signed it (for index_signed: the index''s signer); NULL unless signed or index_signed';
COMMENT ON COLUMN pgext.image_attestations.signed_at IS 'Integrated time of a keyless signature''s transparency-log entry';
COMMENT ON COLUMN pgext.image_attestations.detail IS 'Why it got its trust, or what is wrong with it';

CREATE TABLE pgext.image_packages (
    image pgext.image_name NOT NULL,
    attestation int NOT NULL,
    source text NOT NULL,
    trust text NOT NULL,
    signed_by text,
    package_id text NOT NULL,
    name text NOT NULL,
    version text,
    purl text,
    license text,
    supplier text,
    files text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (image, attestation, package_id)
);
CREATE INDEX image_packages_name ON pgext.image_packages (name);
COMMENT ON TABLE pgext.image_packages IS
  'Packages of each pinned image, from the SPDX and CycloneDX SBOMs its last verification read (one row per package and SBOM)';
COMMENT ON INDEX pgext.image_packages_name IS 'Which images ship a package';
COMMENT ON COLUMN pgext.image_packages.image IS 'Image name';
COMMENT ON COLUMN pgext.image_packages.attestation IS 'The SBOM it comes from (pgext.image_attestations.attestation)';
COMMENT ON COLUMN pgext.image_packages.source IS 'Where the SBOM was found: buildkit, cosign or referrer';
COMMENT ON COLUMN pgext.image_packages.trust IS 'The SBOM''s trust (pgext.image_attestations.trust)';
COMMENT ON COLUMN pgext.image_packages.signed_by IS 'Who signed the SBOM, when trusted';
COMMENT ON COLUMN pgext.image_packages.package_id IS 'The package''s identifier in the document: its SPDX identifier, or its CycloneDX bom-ref (component-<n>, its place in document order, when it has none)';
COMMENT ON COLUMN pgext.image_packages.name IS 'Package name';
COMMENT ON COLUMN pgext.image_packages.version IS 'Package version (SPDX versionInfo, CycloneDX version)';
COMMENT ON COLUMN pgext.image_packages.purl IS 'Package URL (SPDX: the purl external reference; CycloneDX: purl)';
COMMENT ON COLUMN pgext.image_packages.license IS 'SPDX: licenseConcluded, else licenseDeclared (NULL for NOASSERTION or NONE); CycloneDX: the expression, or the license ids or names listed (comma-separated), only those acknowledged concluded when there are any';
COMMENT ON COLUMN pgext.image_packages.supplier IS 'Supplier as the SBOM writes it (SPDX: Organization: …, Person: …; CycloneDX: the supplier''s name, else the publisher)';
COMMENT ON COLUMN pgext.image_packages.files IS 'Image-relative paths of the files the package contains, where the SBOM says (SPDX: CONTAINS / CONTAINED_BY relationships, hasFiles; CycloneDX: nested file components, evidence occurrences)';

CREATE TABLE pgext.image_provenance (
    image pgext.image_name NOT NULL,
    attestation int NOT NULL,
    source text NOT NULL,
    trust text NOT NULL,
    signed_by text,
    signed_at timestamptz,
    predicate_type text NOT NULL,
    builder_id text,
    build_type text,
    source_repository text,
    source_commit text,
    workflow text,
    built_at timestamptz,
    invocation_id text,
    PRIMARY KEY (image, attestation)
);
COMMENT ON TABLE pgext.image_provenance IS
  'Build provenance of each pinned image, from the SLSA provenance (v0.2, v1) its last verification read; pgext.require = provenance judges it against pgext.trusted_builders';
COMMENT ON COLUMN pgext.image_provenance.image IS 'Image name';
COMMENT ON COLUMN pgext.image_provenance.attestation IS 'The attestation it comes from (pgext.image_attestations.attestation)';
COMMENT ON COLUMN pgext.image_provenance.source IS 'Where it was found: buildkit, cosign or referrer';
COMMENT ON COLUMN pgext.image_provenance.trust IS 'signed, index_signed, unsigned, untrusted or invalid (pgext.image_attestations.trust); only signed and index_signed count for pgext.require = provenance';
COMMENT ON COLUMN pgext.image_provenance.signed_by IS 'Who signed it, when trusted; NULL for unsigned BuildKit provenance';
COMMENT ON COLUMN pgext.image_provenance.signed_at IS 'Integrated time of a keyless signature''s transparency-log entry';
COMMENT ON COLUMN pgext.image_provenance.predicate_type IS 'https://slsa.dev/provenance/v0.2 or https://slsa.dev/provenance/v1';
COMMENT ON COLUMN pgext.image_provenance.builder_id IS 'The builder''s id (builder.id, runDetails.builder.id)';
COMMENT ON COLUMN pgext.image_provenance.build_type IS 'The build type (buildType)';
COMMENT ON COLUMN pgext.image_provenance.source_repository IS 'The source repository built (config source, workflow repository, BuildKit VCS metadata or git material), without git+, .git or a revision';
COMMENT ON COLUMN pgext.image_provenance.source_commit IS 'The commit built';
COMMENT ON COLUMN pgext.image_provenance.workflow IS 'The workflow (path@ref) or build file (entryPoint, path) that ran the build';
COMMENT ON COLUMN pgext.image_provenance.built_at IS 'When the build finished (else started)';
COMMENT ON COLUMN pgext.image_provenance.invocation_id IS 'The build''s invocation id (e.g. a CI run)';

-- The libraries pgext found, with the package that owns each file where an SBOM says so.
CREATE VIEW pgext.library_packages AS
SELECT l.path, l.basename, l.image, p.name AS package, p.version, p.purl, p.license, p.supplier,
       p.source, p.trust, p.attestation
  FROM pgext.libraries l
  JOIN pgext.image_packages p ON p.image OPERATOR(pg_catalog.=) l.image
 WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest(p.files) f
                WHERE pg_catalog."right"(l.path, pg_catalog.length(f) + 1) OPERATOR(pg_catalog.=) ('/' OPERATOR(pg_catalog.||) f));
COMMENT ON VIEW pgext.library_packages IS
  'Each library of pgext.libraries from a mounted image, with the SBOM package that contains its file';
COMMENT ON COLUMN pgext.library_packages.path IS 'The library (pgext.libraries.path)';
COMMENT ON COLUMN pgext.library_packages.basename IS 'Its file name';
COMMENT ON COLUMN pgext.library_packages.image IS 'The image it is in';
COMMENT ON COLUMN pgext.library_packages.package IS 'The package whose files include it';
COMMENT ON COLUMN pgext.library_packages.version IS 'The package''s version';
COMMENT ON COLUMN pgext.library_packages.purl IS 'The package''s purl';
COMMENT ON COLUMN pgext.library_packages.license IS 'The package''s license';
COMMENT ON COLUMN pgext.library_packages.supplier IS 'The package''s supplier';
COMMENT ON COLUMN pgext.library_packages.source IS 'Where the SBOM was found';
COMMENT ON COLUMN pgext.library_packages.trust IS 'The SBOM''s trust';
COMMENT ON COLUMN pgext.library_packages.attestation IS 'The SBOM (pgext.image_attestations.attestation)';

GRANT SELECT, INSERT, UPDATE, DELETE ON pgext.image_attestations, pgext.image_packages, pgext.image_provenance
  TO pgext_admin;
REVOKE ALL ON pgext.image_attestations, pgext.image_packages, pgext.image_provenance, pgext.library_packages
  FROM PUBLIC;
GRANT SELECT ON pgext.image_attestations, pgext.image_packages, pgext.image_provenance, pgext.library_packages
  TO pg_monitor, pgext_admin;
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgext.image_provenance
  FOR EACH STATEMENT EXECUTE FUNCTION pgext.policy_changed();
COMMENT ON TRIGGER policy_changed ON pgext.image_provenance IS 'Drops cached enforcement decisions in every backend';
-- Signed image catalogs (pgext.catalog): the views pgext.catalog_status and pgext.image_catalog.
CREATE FUNCTION pgext."catalog_status"() RETURNS TABLE (
	"catalog" TEXT,  /* Option < String > */
	"bundle" TEXT,  /* Option < String > */
	"status" TEXT,  /* String */
	"detail" TEXT,  /* String */
	"signed_by" TEXT,  /* Option < String > */
	"signed_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"sha256" TEXT,  /* Option < String > */
	"catalog_name" TEXT,  /* Option < String > */
	"os" TEXT,  /* Option < String > */
	"date" TEXT,  /* Option < String > */
	"for_this_server" TEXT[]  /* :: std :: option :: Option < Vec < String > > */
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'catalog_status_wrapper';
CREATE FUNCTION pgext."image_catalog"() RETURNS TABLE (
	"name" TEXT,  /* String */
	"reference" TEXT,  /* Option < String > */
	"digest" TEXT,  /* Option < String > */
	"in_catalog" bool,  /* bool */
	"catalog_digest" TEXT,  /* Option < String > */
	"catalog_reference" TEXT,  /* Option < String > */
	"catalog_status" TEXT,  /* String */
	"detail" TEXT  /* String */
)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'image_catalog_wrapper';
CREATE VIEW pgext.catalog_status AS SELECT * FROM pgext.catalog_status();
CREATE VIEW pgext.image_catalog AS SELECT * FROM pgext.image_catalog();
COMMENT ON VIEW pgext.catalog_status IS
  'The image catalog of pgext.catalog and its cosign sign-blob bundle: verified (by a trusted key or keyless identity), unsigned, untrusted, invalid, unreadable, error, or off; only a verified catalog lists anything';
COMMENT ON VIEW pgext.image_catalog IS
  'Every mounted or pinned image judged against the signed catalog: is its digest one the catalog lists for this server''s PostgreSQL major and OS (what pgext.require = catalog enforces)';
COMMENT ON FUNCTION pgext.catalog_status() IS 'Rows of the view pgext.catalog_status';
COMMENT ON FUNCTION pgext.image_catalog() IS 'Rows of the view pgext.image_catalog';
REVOKE ALL ON FUNCTION pgext.catalog_status(), pgext.image_catalog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.catalog_status(), pgext.image_catalog() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.catalog_status, pgext.image_catalog FROM PUBLIC;
GRANT SELECT ON pgext.catalog_status, pgext.image_catalog TO pg_monitor, pgext_admin;
COMMENT ON COLUMN pgext.catalog_status.catalog IS 'The catalog file (pgext.catalog; NULL when it is not set)';
COMMENT ON COLUMN pgext.catalog_status.bundle IS 'Its Sigstore bundle (pgext.catalog_bundle, else the catalog''s path with .sigstore.json appended)';
COMMENT ON COLUMN pgext.catalog_status.status IS 'verified, unsigned (no bundle), untrusted (signed by no trusted key or identity), invalid (changed after signing, a broken bundle or log entry, or not a catalog), unreadable, error (a trust setting cannot be read) or off';
COMMENT ON COLUMN pgext.catalog_status.detail IS 'Why, in words: who signed it, or what failed';
COMMENT ON COLUMN pgext.catalog_status.signed_by IS 'The trusted key (key:sha256:…) or keyless identity (subject and issuer) that signed it, when verified';
COMMENT ON COLUMN pgext.catalog_status.signed_at IS 'When, from its verified transparency-log entry (keyless)';
COMMENT ON COLUMN pgext.catalog_status.sha256 IS 'SHA-256 of the catalog file as read';
COMMENT ON COLUMN pgext.catalog_status.catalog_name IS 'metadata.name of the verified catalog';
COMMENT ON COLUMN pgext.catalog_status.os IS 'The OS its images are for (label images.cnpg.io/os): it lists nothing for a server on another OS';
COMMENT ON COLUMN pgext.catalog_status.date IS 'Its date (label images.cnpg.io/date)';
COMMENT ON COLUMN pgext.catalog_status.for_this_server IS 'The references it lists for this server''s major and OS: the operand image and the extension images (NULL unless verified)';
COMMENT ON COLUMN pgext.image_catalog.name IS 'Image name: its directory below pgext.extensions_root';
COMMENT ON COLUMN pgext.image_catalog.reference IS 'The pin in effect (NULL: unpinned)';
COMMENT ON COLUMN pgext.image_catalog.digest IS 'The digest judged: the pin''s @sha256, else what the last verification of that pin resolved (when verified)';
COMMENT ON COLUMN pgext.image_catalog.in_catalog IS 'The signed catalog lists this digest for this server''s major and OS';
COMMENT ON COLUMN pgext.image_catalog.catalog_digest IS 'The digest the catalog lists for an extension of this name (else of the entry that matched)';
COMMENT ON COLUMN pgext.image_catalog.catalog_reference IS 'The reference of that catalog entry';
COMMENT ON COLUMN pgext.image_catalog.catalog_status IS 'The catalog''s status (pgext.catalog_status.status): only verified lists anything';
COMMENT ON COLUMN pgext.image_catalog.detail IS 'Why, in words';

-- check_extension(): the server files the scripts read (missing_data_file, issue #26)
COMMENT ON FUNCTION pgext.check_extension(text) IS
  'The whole reasoning behind one extension''s verdicts as jsonb: its copies, install path, script references, the server files its scripts read (script_file_reads: COPY … FROM, pg_read_file, lo_import, each looked up where the server opens it), each library with its dependency resolution and problems, requirements, compatible, usable';
