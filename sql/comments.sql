-- What every pgext object is, for \d+ and \df+ (and the book's generated reference, which reads
-- these comments from the catalog). Loaded last (finalize), so every object exists. A view column
-- or a table column pgext adds needs a comment here (or beside its CREATE): the upgrade suite
-- fails on any pgext-owned relation, column or function without one.

-- Functions behind the views and the ones called directly.
COMMENT ON FUNCTION pgext.extension_paths() IS
  'Rows of the view pgext.extension_paths: each element of extension_control_path and dynamic_library_path as PostgreSQL 18 expands it';
COMMENT ON FUNCTION pgext.mounted_images() IS
  'Rows of the view pgext.mounted_images (differences as one array: missing, modified, unexpected, changed)';
COMMENT ON FUNCTION pgext.mounted_extensions() IS 'Rows of the view pgext.mounted_extensions';
COMMENT ON FUNCTION pgext.libraries() IS 'Rows of the view pgext.libraries';
COMMENT ON FUNCTION pgext.library_compat() IS 'Rows of the view pgext.library_compat';
COMMENT ON FUNCTION pgext.check_extension(text) IS
  'The whole reasoning behind one extension''s verdicts as jsonb: its copies, install path, script references, the server files its scripts read (script_file_reads: COPY … FROM, pg_read_file, lo_import, each looked up where the server opens it), each library with its dependency resolution and problems, requirements, compatible, usable';
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
COMMENT ON COLUMN pgext.enforcement_status.locked IS 'pgext.enforce_locked: pgext.enforce stays on until the server restarts without it';
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
