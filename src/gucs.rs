//! Every pgext setting, registered in one place under the `pgext.` prefix.
//!
//! Read settings through the accessors: `GucSetting::get()` may only run on the backend's main
//! thread, and the accessors return owned values that worker threads can take.

use std::ffi::{CStr, CString, c_char};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pgext_core::policy;
use pgrx::{GucContext, GucEnum, GucFlags, GucRegistry, GucSetting, pg_guard, pg_sys};

/// Where CloudNativePG mounts extension images; every directory directly below it is one image.
static EXTENSIONS_ROOT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"/extensions"));

/// Threads used to hash files (0 = one per CPU).
static HASH_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// `name=reference` pins; wins over `pgext.pin_image()`.
static IMAGES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// A docker `config.json` with registry credentials (a mounted dockerconfigjson secret).
static REGISTRY_AUTH_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Registries (`host:port`) reached over plain HTTP.
static INSECURE_REGISTRIES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Registry connect timeout, milliseconds.
static REGISTRY_CONNECT_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(10_000);

/// Longest wait for any one read from a registry, milliseconds.
static REGISTRY_READ_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(30_000);

/// Directory for layer spool files ("" = the system temporary directory).
static SPOOL_DIRECTORY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Directories (absolute, comma-separated) that `oci:` / `oci-archive:` layouts must lie in.
static LAYOUT_DIRECTORIES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// A PEM file or a directory of `*.pub`/`*.pem` files: the public keys whose cosign signatures
/// are trusted.
static TRUSTED_KEYS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// A Sigstore `trusted_root.json`: the certificate authorities (and transparency logs) keyless
/// cosign signatures are checked against.
static TRUSTED_ROOT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Whose keyless signatures count: `issuer=URL subject=EXACT|subject~REGEX [images=PREFIX]`
/// rules separated by `;`.
static TRUSTED_IDENTITIES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Built-in keyless identity profiles in effect (`pgext_oci::profiles`).
static TRUST_PROFILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Which builders (and source repositories) `pgext.require = provenance` accepts.
static TRUSTED_BUILDERS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));
/// A CloudNativePG image catalog (YAML) mounted on the server, signed with `cosign sign-blob
/// --bundle`.
static CATALOG: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// The catalog's Sigstore bundle ("" = `<catalog>.sigstore.json`).
static CATALOG_BUNDLE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// Whether a keyless signature needs a verified transparency-log entry.
static KEYLESS_REQUIRE_TLOG: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Whether a verification reuses the expected tree it recorded for the same image manifest.
static REUSE_RECORDED_TREES: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Registers the settings. Called from `_PG_init`, once per process.
pub fn init() {
    define_decision_string(
        c"pgext.extensions_root",
        c"Directory under which each subdirectory is one mounted extension image.",
        c"CloudNativePG mounts image volumes at /extensions/<name>. Path elements outside this root are \
          inventoried as unmanaged.",
        &EXTENSIONS_ROOT,
        GucContext::Suset,
    );
    GucRegistry::define_int_guc(
        c"pgext.hash_threads",
        c"Threads used to hash files; 0 means one per CPU.",
        c"Hashing runs in worker threads inside the calling backend; the backend itself only waits and \
          checks for interrupts.",
        &HASH_THREADS,
        0,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_decision_string(
        c"pgext.images",
        c"Pinned OCI references of mounted images, as name=reference entries separated by commas.",
        c"References as CloudNativePG catalogs write them (registry/repo:tag@sha256:...), or oci:/dir[:tag] and \
          oci-archive:/file.tar[:tag] for air-gapped sites. Wins over pgext.pin_image().",
        &IMAGES,
        GucContext::Sighup,
    );
    GucRegistry::define_string_guc(
        c"pgext.registry_auth_file",
        c"Docker config.json with registry credentials (what a dockerconfigjson secret mounts).",
        c"Read by the backend that verifies; credentials never appear in views, errors or the log.",
        &REGISTRY_AUTH_FILE,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"pgext.insecure_registries",
        c"Registries (host:port, comma-separated) reached over plain HTTP instead of verified TLS.",
        c"",
        &INSECURE_REGISTRIES,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_int_guc(
        c"pgext.registry_connect_timeout",
        c"Registry connect timeout.",
        c"",
        &REGISTRY_CONNECT_TIMEOUT,
        1,
        3_600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"pgext.registry_read_timeout",
        c"Longest wait for any one read from a registry.",
        c"Cancel requests and statement_timeout take effect within a fraction of a second regardless.",
        &REGISTRY_READ_TIMEOUT,
        1,
        3_600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        c"pgext.spool_directory",
        c"Directory for the unnamed spool files that hold one compressed layer while it is verified.",
        c"Empty means the system temporary directory. Needs room for the largest compressed layer.",
        &SPOOL_DIRECTORY,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"pgext.layout_directories",
        c"Directories (absolute, comma-separated) that oci: and oci-archive: layouts must lie in.",
        c"Empty refuses every local layout. Paths are checked after resolving .. and symbolic links, so \
          that pinning or verifying cannot probe the rest of the server's file system.",
        &LAYOUT_DIRECTORIES,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    define_decision_string(
        c"pgext.trusted_keys",
        c"Public keys (a PEM file, or a directory of *.pub and *.pem files) whose cosign signatures are trusted.",
        c"ECDSA P-256 or P-384 keys, as cosign generate-key-pair writes them. Empty trusts no key: signed \
          images then show signature = untrusted.",
        &TRUSTED_KEYS,
        GucContext::Sighup,
    );
    define_decision_string(
        c"pgext.trusted_root",
        c"A Sigstore trusted_root.json: the certificate authorities and transparency-log keys keyless cosign signatures are checked against.",
        c"The public-good instance's root (from its TUF repository) or a site's own PKI. Empty: keyless \
          signatures show signature = untrusted.",
        &TRUSTED_ROOT,
        GucContext::Sighup,
    );
    define_decision_string(
        c"pgext.trusted_identities",
        c"Whose keyless cosign signatures are trusted: rules 'issuer=URL subject=EXACT' or 'issuer=URL subject~REGEX', optionally 'images=PREFIX', separated by ';'.",
        c"E.g. issuer=https://token.actions.githubusercontent.com subject~^https://github.com/cloudnative-pg/ images=ghcr.io/cloudnative-pg/",
        &TRUSTED_IDENTITIES,
        GucContext::Sighup,
    );
    define_decision_string(
        c"pgext.trust_profile",
        c"Built-in keyless signer identities to trust, by name: 'cloudnative-pg' trusts CloudNativePG's extension images (ghcr.io/cloudnative-pg/) signed by the main branch of postgres-extensions-containers' bake_targets.yml workflow, and its image catalogs (pgext.catalog) signed by the main branch of postgres-containers' catalogs.yml or postgres-extensions-containers' update-catalogs.yml (issuer https://token.actions.githubusercontent.com).",
        c"Comma-separated names, each optionally followed by images=PREFIX fields naming a mirror instead of the \
          profile's own registry. They add to pgext.trusted_identities; certificates are still checked against \
          pgext.trusted_root (for these images, the Sigstore public-good root). An unknown name makes every \
          signature check an error, never a weaker policy.",
        &TRUST_PROFILE,
        GucContext::Sighup,
    );
    define_decision_string(
        c"pgext.trusted_builders",
        c"Which builders' SLSA provenance pgext.require = provenance accepts: rules 'builder=EXACT' or 'builder~REGEX', optionally 'source=PREFIX' (the source repository) and 'images=PREFIX', separated by ';'.",
        c"E.g. builder~^https://github.com/cloudnative-pg/postgres-extensions-containers/actions/runs/ \
          source=https://github.com/cloudnative-pg/postgres-extensions-containers images=ghcr.io/cloudnative-pg/. \
          Only provenance that is signed by a trusted key or identity (or lies in a signed image index) counts. \
          A rule that does not parse accepts nothing, never a weaker policy.",
        &TRUSTED_BUILDERS,
        GucContext::Sighup,
    );
    define_decision_string(
        c"pgext.catalog",
        c"A CloudNativePG image catalog (ClusterImageCatalog or ImageCatalog YAML, e.g. a ConfigMap-mounted catalog-minimal-trixie.yaml) that mounted images are judged against.",
        c"Absolute path. Its bundle (cosign sign-blob --bundle, at <path>.sigstore.json unless pgext.catalog_bundle \
          says otherwise) must verify over the file's bytes with pgext.trusted_keys, or keyless with pgext.trusted_root \
          and an identity of pgext.trusted_identities or pgext.trust_profile (cloudnative-pg trusts CloudNativePG's \
          catalog workflows). A catalog that does not verify lists nothing. See the views pgext.catalog_status and pgext.image_catalog.",
        &CATALOG,
        GucContext::Sighup,
    );
    define_decision_string(
        c"pgext.catalog_bundle",
        c"The Sigstore bundle of pgext.catalog; empty means pgext.catalog with .sigstore.json appended.",
        c"Absolute path, e.g. a second key of the same ConfigMap.",
        &CATALOG_BUNDLE,
        GucContext::Sighup,
    );
    GucRegistry::define_bool_guc(
        c"pgext.keyless_require_tlog",
        c"Whether a keyless cosign signature needs a transparency-log entry signed by a log of pgext.trusted_root.",
        c"Off for a site PKI without a log: the certificate is then judged at the present time.",
        &KEYLESS_REQUIRE_TLOG,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_bool_guc(
        c"pgext.reuse_recorded_trees",
        c"Whether a verification of an image manifest already verified reuses the expected tree recorded then, downloading no layer.",
        c"A manifest is content-addressed: its layers, and the tree they make, cannot change. The manifests, config, \
          signatures and the mount are still read on every verification. Off: every verification downloads and \
          applies every layer again.",
        &REUSE_RECORDED_TREES,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    // --- enforcement settings (begin)
    // PGC_SUSET: only a superuser (or a role granted SET on them) can change them for a session,
    // so an ordinary role can never turn enforcement off for itself. Everyone may read them: a
    // refused user should be able to see the policy that refused it.
    // SAFETY: a plain read of a flag the postmaster sets around shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        // Defined before the settings it locks, so that their check hooks see it.
        GucRegistry::define_bool_guc(
            c"pgext.enforce_locked",
            c"Locks pgext.enforce to on until the server restarts; pgext.require may then only gain conditions and pgext.enforce_exempt only lose entries.",
            c"Set it in postgresql.conf (CloudNativePG: postgresql.parameters). SET, ALTER ROLE, ALTER DATABASE, \
              ALTER SYSTEM and a reload can no longer relax enforcement. A superuser can still change the \
              configuration and restart, write pgext's tables, or change the server's files.",
            &ENFORCE_LOCKED,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    // SAFETY: the check hooks are #[pg_guard] functions that only parse their argument.
    unsafe {
        GucRegistry::define_enum_guc_with_hooks(
            c"pgext.enforce",
            c"Refuse (on) or report (warn) loads of code from images that fail pgext.require: CREATE EXTENSION, ALTER EXTENSION UPDATE, LOAD, C functions, and the first lookup of each C function in every session.",
            c"Needs pgext in shared_preload_libraries: without it nothing is enforced. With pgext.enforce_locked it is on \
              and stays on.",
            &ENFORCE,
            GucContext::Suset,
            GucFlags::default(),
            Some(check_enforce),
            None,
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"pgext.require",
            c"Conditions an image must meet under pgext.enforce: a comma-separated list of pinned, verified, compatible, signed, provenance, catalog.",
            c"pinned: the image has a pin (pgext.images or pgext.pins). verified: its last recorded check is verified for \
              that pin and a local re-hash finds the mount unchanged. compatible: pgext's static verdict finds the \
              extension or library loadable. signed: the last check that read the image's source, for its pin, found a \
              cosign signature by a trusted signer. provenance: that check found SLSA build provenance, signed by a \
              trusted signer (or in a signed index), whose builder and source a pgext.trusted_builders rule accepts. \
              catalog: the image's pinned digest (or, for a pin by tag, the digest its last verification resolved) is \
              one the signed image catalog pgext.catalog lists for this server's major and OS.",
            &REQUIRE,
            GucContext::Suset,
            GucFlags::default(),
            Some(check_require),
            Some(require_assigned),
            None,
        );
        GucRegistry::define_string_guc_with_hooks(
            c"pgext.enforce_exempt",
            c"Extensions and images pgext.enforce always allows: comma-separated names, optionally as extension:NAME or image:NAME.",
            c"A bare name matches an extension or an image of that name.",
            &ENFORCE_EXEMPT,
            GucContext::Suset,
            GucFlags::default(),
            Some(check_exempt),
            Some(enforcement_assigned),
            None,
        );
    }
    if enforce_locked() {
        // SAFETY: called from _PG_init in the postmaster; a dynamic default ranks below the
        // configuration file, whose values the check hooks have already judged.
        unsafe {
            pg_sys::SetConfigOption(
                c"pgext.enforce".as_ptr(),
                c"on".as_ptr(),
                pg_sys::GucContext::PGC_POSTMASTER,
                pg_sys::GucSource::PGC_S_DYNAMIC_DEFAULT,
            );
        }
        let _ = START_POLICY.set((
            policy::require_or_default(&require()),
            policy::parse_exempt(&enforce_exempt()).unwrap_or_default(),
        ));
    }
    // --- enforcement settings (end)
    // --- worker settings (begin)
    GucRegistry::define_int_guc(
        c"pgext.check_interval",
        c"Time between two check cycles of the pgext background worker.",
        c"Each cycle takes the inventory, re-hashes verified images against their recorded trees and \
          verifies against the registry when pgext.verify_interval is due. pgext.check_now() runs one at once.",
        &CHECK_INTERVAL,
        1,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pgext.verify_interval",
        c"Time between two registry verifications of each pinned image by the background worker; 0 disables them.",
        c"Between verifications, the worker re-hashes the mounted files against the recorded tree, with no network.",
        &VERIFY_INTERVAL,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pgext.history_retention",
        c"How long the background worker keeps rows in pgext.check_runs and pgext.findings; 0 keeps none.",
        c"Older runs and their findings are deleted at the end of each cycle, on the primary only.",
        &HISTORY_RETENTION,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    // PostgreSQL allows PGC_POSTMASTER settings of a library only while it is preloaded (a later
    // definition is FATAL); without preloading there is no worker for them to configure anyway.
    // SAFETY: a plain read of a flag the postmaster sets around shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        GucRegistry::define_string_guc(
            c"pgext.database",
            c"Database the pgext background worker connects to and writes its history in.",
            c"pgext must be installed there (CREATE EXTENSION pgext) for pins, recorded trees and history.",
            &DATABASE,
            GucContext::Postmaster,
            GucFlags::default(),
        );
        GucRegistry::define_int_guc(
            c"pgext.max_tracked_images",
            c"Number of images whose status the background worker keeps in shared memory.",
            c"Sizes shared memory at server start; images beyond it are checked and recorded but not shown \
              by pgext.image_status(), and pgext.health() reports them.",
            &MAX_TRACKED_IMAGES,
            1,
            10_000,
            GucContext::Postmaster,
            GucFlags::default(),
        );
    }
    GucRegistry::define_int_guc(
        c"pgext.verify_timeout",
        c"Longest time one verification of an image against its source may take.",
        c"Bounds the background worker's verifications and pgext.verify_image(): a registry that answers \
          slowly (or drips bytes) ends in status unreachable with error code timeout instead of holding a \
          cycle for hours. Cancel and statement_timeout act within a second regardless.",
        &VERIFY_TIMEOUT,
        1,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pgext.spool_max_size",
        c"Most disk space the layer spool of one verification may use.",
        c"Two compressed layers are spooled at once (one is applied while the next downloads); an image \
          whose two consecutive layers need more is refused with error code too_large before any download.",
        &SPOOL_MAX_SIZE,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_KB | GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_int_guc(
        c"pgext.full_rehash_interval",
        c"Time between two full re-hashes of each verified image by the background worker; 0 disables them.",
        c"Ordinary re-hashes take digests from a cache keyed on size, mtime and ctime; a full re-hash reads \
          every byte again, one image per cycle, paced by pgext.full_rehash_rate_limit.",
        &FULL_REHASH_INTERVAL,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pgext.full_rehash_rate_limit",
        c"Most bytes per second a full re-hash reads; 0 means no limit.",
        c"A rate-limited full re-hash reads on one thread and pauses as needed, so it cannot saturate the disk.",
        &FULL_REHASH_RATE_LIMIT,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_KB,
    );
    // --- worker settings (end)
    // SAFETY: called from _PG_init on the main thread with a static C string.
    unsafe { pg_sys::MarkGUCPrefixReserved(c"pgext".as_ptr()) };
}

/// `pgext.extensions_root`, without trailing slashes ("" when unset).
pub fn extensions_root() -> String {
    let raw = EXTENSIONS_ROOT
        .get()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trimmed = raw.trim_end_matches('/');
    if trimmed.is_empty() && raw.starts_with('/') {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// `pgext.hash_threads`, with 0 resolved to the number of CPUs.
pub fn hash_threads() -> usize {
    match HASH_THREADS.get() {
        n if n > 0 => n as usize,
        _ => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }
}

/// Defines a string setting an enforcement decision rests on (all superuser-only): its
/// assignments are counted, so the function-load hook knows when what it remembered is stale.
fn define_decision_string(
    name: &'static CStr,
    short_description: &'static CStr,
    long_description: &'static CStr,
    setting: &'static GucSetting<Option<CString>>,
    context: GucContext,
) {
    // SAFETY: the assign hook is a #[pg_guard] function that only counts.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            name,
            short_description,
            long_description,
            setting,
            context,
            GucFlags::SUPERUSER_ONLY,
            None,
            Some(enforcement_assigned),
            None,
        );
    }
}

/// Assignments, in this process, of the pgext settings enforcement decisions rest on (the ones
/// `enforcement_signature` lists): SET, RESET, a role's or database's setting, a function's SET
/// clause, a reload, and the undo of any of them at abort all go through the assign hook. The
/// function-load hook compares this counter instead of the values at every lookup.
static ENFORCEMENT_ASSIGNMENTS: AtomicU64 = AtomicU64::new(0);

/// Whether the `pgext.require` in effect has `catalog` (set by its assign hook).
static CATALOG_REQUIRED: AtomicBool = AtomicBool::new(false);

#[pg_guard]
unsafe extern "C-unwind" fn enforcement_assigned(_newval: *const c_char, _extra: *mut std::ffi::c_void) {
    ENFORCEMENT_ASSIGNMENTS.fetch_add(1, Ordering::Relaxed);
}

#[pg_guard]
unsafe extern "C-unwind" fn require_assigned(newval: *const c_char, _extra: *mut std::ffi::c_void) {
    let catalog = !newval.is_null() && {
        // SAFETY: the GUC machinery passes the NUL-terminated value being assigned.
        let v = unsafe { CStr::from_ptr(newval) }.to_string_lossy();
        policy::require_or_default(&v).contains(&policy::Condition::Catalog)
    };
    CATALOG_REQUIRED.store(catalog, Ordering::Relaxed);
    ENFORCEMENT_ASSIGNMENTS.fetch_add(1, Ordering::Relaxed);
}

/// See `ENFORCEMENT_ASSIGNMENTS`; `dynamic_library_path` is the server's and not counted.
pub fn enforcement_assignments() -> u64 {
    ENFORCEMENT_ASSIGNMENTS.load(Ordering::Relaxed)
}

/// Whether `pgext.require` has `catalog`, without parsing it.
pub fn catalog_required() -> bool {
    CATALOG_REQUIRED.load(Ordering::Relaxed)
}

/// Appends the values the enforcement decisions rest on (pgext.require, pgext.enforce_exempt,
/// pgext.images, pgext.extensions_root, dynamic_library_path and the trust and catalog settings),
/// each followed by a NUL: the key of a decision shared between backends, whose settings may
/// differ by role and database. Reads the variables the GUC machinery assigns in place.
pub fn enforcement_signature(out: &mut Vec<u8>) {
    let push = |out: &mut Vec<u8>, p: *const std::ffi::c_char| {
        if !p.is_null() {
            // SAFETY: a GUC string variable points at a NUL-terminated value the GUC machinery
            // owns until the next assignment, which cannot happen while this runs.
            out.extend_from_slice(unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes());
        }
        out.push(0);
    };
    for setting in [
        &REQUIRE,
        &ENFORCE_EXEMPT,
        &IMAGES,
        &EXTENSIONS_ROOT,
        &TRUSTED_BUILDERS,
        &CATALOG,
        &CATALOG_BUNDLE,
        &TRUSTED_KEYS,
        &TRUSTED_ROOT,
        &TRUSTED_IDENTITIES,
        &TRUST_PROFILE,
    ] {
        // SAFETY: reads the variable's current pointer (as GucSetting::get does, without the copy).
        push(out, unsafe { *setting.as_ptr() });
    }
    // SAFETY: the server's own variable for dynamic_library_path.
    push(out, unsafe { pg_sys::Dynamic_library_path });
}

fn string(setting: &GucSetting<Option<CString>>) -> String {
    setting
        .get()
        .map(|c| c.to_string_lossy().trim().to_string())
        .unwrap_or_default()
}

fn ms(setting: &GucSetting<i32>) -> std::time::Duration {
    std::time::Duration::from_millis(setting.get().max(1) as u64)
}

/// `pgext.images`, as written.
pub fn images() -> String {
    string(&IMAGES)
}

/// `pgext.registry_auth_file` ("" when unset).
pub fn registry_auth_file() -> String {
    string(&REGISTRY_AUTH_FILE)
}

/// `pgext.trusted_keys`.
pub fn trusted_keys() -> String {
    string(&TRUSTED_KEYS)
}

/// `pgext.trusted_root`.
pub fn trusted_root() -> String {
    string(&TRUSTED_ROOT)
}

/// `pgext.trusted_identities`.
pub fn trusted_identities() -> String {
    string(&TRUSTED_IDENTITIES)
}

/// `pgext.trust_profile`.
pub fn trust_profile() -> String {
    string(&TRUST_PROFILE)
}

/// `pgext.trusted_builders`.
pub fn trusted_builders() -> String {
    string(&TRUSTED_BUILDERS)
}

/// `pgext.catalog` ("" when unset).
pub fn catalog() -> String {
    string(&CATALOG)
}

/// `pgext.catalog_bundle` ("" when unset).
pub fn catalog_bundle() -> String {
    string(&CATALOG_BUNDLE)
}

/// `pgext.keyless_require_tlog`.
pub fn keyless_require_tlog() -> bool {
    KEYLESS_REQUIRE_TLOG.get()
}

/// `pgext.reuse_recorded_trees`.
pub fn reuse_recorded_trees() -> bool {
    REUSE_RECORDED_TREES.get()
}

/// Whether any signer is trusted (keys, or a keyless trust root).
pub fn signers_configured() -> bool {
    !trusted_keys().is_empty() || !trusted_root().is_empty()
}

/// `pgext.insecure_registries`, split.
pub fn insecure_registries() -> Vec<String> {
    string(&INSECURE_REGISTRIES)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `pgext.registry_connect_timeout` and `pgext.registry_read_timeout`.
pub fn registry_timeouts() -> (std::time::Duration, std::time::Duration) {
    (ms(&REGISTRY_CONNECT_TIMEOUT), ms(&REGISTRY_READ_TIMEOUT))
}

/// `pgext.layout_directories`, split (relative entries are kept: the check ignores them).
pub fn layout_directories() -> Vec<std::path::PathBuf> {
    string(&LAYOUT_DIRECTORIES)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(std::path::PathBuf::from)
        .collect()
}

/// `pgext.spool_directory` ("" when unset).
pub fn spool_directory() -> String {
    string(&SPOOL_DIRECTORY)
}

/// `pgext.check_interval` (background worker).
static CHECK_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(300);

/// `pgext.verify_interval` (background worker; 0 = never).
static VERIFY_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(3600);

/// `pgext.history_retention` (background worker; 0 = keep no history).
static HISTORY_RETENTION: GucSetting<i32> = GucSetting::<i32>::new(7 * 24 * 3600);

/// `pgext.database` (background worker).
static DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));

/// `pgext.max_tracked_images` (sizes shared memory).
static MAX_TRACKED_IMAGES: GucSetting<i32> = GucSetting::<i32>::new(64);

/// `pgext.check_interval`.
pub fn check_interval() -> std::time::Duration {
    std::time::Duration::from_secs(CHECK_INTERVAL.get().max(1) as u64)
}

/// `pgext.verify_interval`; `None` when verification is disabled (0).
pub fn verify_interval() -> Option<std::time::Duration> {
    match VERIFY_INTERVAL.get() {
        n if n > 0 => Some(std::time::Duration::from_secs(n as u64)),
        _ => None,
    }
}

/// `pgext.history_retention`; `None` when no history is kept (0).
pub fn history_retention() -> Option<std::time::Duration> {
    match HISTORY_RETENTION.get() {
        n if n > 0 => Some(std::time::Duration::from_secs(n as u64)),
        _ => None,
    }
}

/// `pgext.database` (the default when pgext is not preloaded and the setting is undefined).
pub fn database() -> String {
    match string(&DATABASE) {
        s if s.is_empty() => "postgres".to_string(),
        s => s,
    }
}

/// `pgext.max_tracked_images`.
pub fn max_tracked_images() -> usize {
    MAX_TRACKED_IMAGES.get().max(1) as usize
}

/// `pgext.verify_timeout`, seconds.
static VERIFY_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(600);

/// `pgext.spool_max_size`, kB.
static SPOOL_MAX_SIZE: GucSetting<i32> = GucSetting::<i32>::new(4 * 1024 * 1024);

/// `pgext.full_rehash_interval`, seconds (0 = never).
static FULL_REHASH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(24 * 3600);

/// `pgext.full_rehash_rate_limit`, kB per second (0 = no limit).
static FULL_REHASH_RATE_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(32 * 1024);

/// `pgext.verify_timeout`.
pub fn verify_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(VERIFY_TIMEOUT.get().max(1) as u64)
}

/// `pgext.spool_max_size`, in bytes.
pub fn spool_max_size() -> u64 {
    SPOOL_MAX_SIZE.get().max(1) as u64 * 1024
}

/// `pgext.full_rehash_interval`; `None` when full re-hashes are disabled (0).
pub fn full_rehash_interval() -> Option<std::time::Duration> {
    match FULL_REHASH_INTERVAL.get() {
        n if n > 0 => Some(std::time::Duration::from_secs(n as u64)),
        _ => None,
    }
}

/// `pgext.full_rehash_rate_limit` in bytes per second; `None` for no limit (0).
pub fn full_rehash_rate_limit() -> Option<u64> {
    match FULL_REHASH_RATE_LIMIT.get() {
        n if n > 0 => Some(n as u64 * 1024),
        _ => None,
    }
}

/// `pgext.enforce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, pgrx::PostgresGucEnum, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum EnforceMode {
    #[name = c"off"]
    Off,
    #[name = c"warn"]
    Warn,
    #[name = c"on"]
    On,
}

impl From<EnforceMode> for policy::Mode {
    fn from(m: EnforceMode) -> policy::Mode {
        match m {
            EnforceMode::Off => policy::Mode::Off,
            EnforceMode::Warn => policy::Mode::Warn,
            EnforceMode::On => policy::Mode::On,
        }
    }
}

impl EnforceMode {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

static ENFORCE: GucSetting<EnforceMode> = GucSetting::<EnforceMode>::new(EnforceMode::Off);

/// `pgext.require` (the safest policy by default).
static REQUIRE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"pinned,verified,compatible"));

/// `pgext.enforce_exempt`.
static ENFORCE_EXEMPT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c""));

/// `pgext.enforce_locked`.
static ENFORCE_LOCKED: GucSetting<bool> = GucSetting::<bool>::new(false);

/// `pgext.require` and `pgext.enforce_exempt` as the locked server started: the floor they may
/// only tighten from.
static START_POLICY: std::sync::OnceLock<(Vec<policy::Condition>, Vec<policy::Exempt>)> = std::sync::OnceLock::new();

/// `pgext.enforce` (always `on` when locked).
pub fn enforce() -> EnforceMode {
    if enforce_locked() {
        EnforceMode::On
    } else {
        ENFORCE.get()
    }
}

/// `pgext.enforce_locked` (false unless pgext is preloaded).
pub fn enforce_locked() -> bool {
    ENFORCE_LOCKED.get()
}

/// Leaves the reason of a refused value where PostgreSQL reports it (the error's DETAIL).
fn check_detail(why: String) {
    if let Ok(msg) = CString::new(why) {
        // SAFETY: GUC_check_errdetail_string is where check hooks leave their detail; the
        // string is copied into the error context's memory.
        unsafe {
            pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(msg.as_ptr());
        }
    }
}

/// Whether a setting is being changed after start (the boot value is never refused).
fn changed_later(source: pg_sys::GucSource::Type) -> bool {
    source != pg_sys::GucSource::PGC_S_DEFAULT
}

/// GUC check hook of `pgext.enforce`: with `pgext.enforce_locked`, nothing but `on`.
#[pg_guard]
pub unsafe extern "C-unwind" fn check_enforce(
    newval: *mut i32,
    _extra: *mut *mut std::ffi::c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: the GUC machinery passes a valid pointer to the new ordinal.
    let value = unsafe { *newval };
    if enforce_locked() && changed_later(source) && value != EnforceMode::On.to_ordinal() {
        check_detail(
            "pgext.enforce_locked is on: pgext.enforce stays on until the server restarts without it.".to_string(),
        );
        return false;
    }
    true
}

/// `pgext.require`, as written.
pub fn require() -> String {
    string(&REQUIRE)
}

/// `pgext.enforce_exempt`, as written.
pub fn enforce_exempt() -> String {
    string(&ENFORCE_EXEMPT)
}

/// GUC check hook of `pgext.require`: a policy that cannot be parsed is refused where it is set.
#[pg_guard]
pub unsafe extern "C-unwind" fn check_require(
    newval: *mut *mut c_char,
    _extra: *mut *mut std::ffi::c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    check_list(newval, |v| {
        let new = policy::parse_require(v)?;
        match START_POLICY.get() {
            Some((start, _)) if changed_later(source) && !policy::require_tightens(start, &new) => Err(format!(
                "pgext.enforce_locked is on: pgext.require may only add conditions to \"{}\".",
                start.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
            )),
            _ => Ok(new),
        }
    })
}

/// GUC check hook of `pgext.enforce_exempt`.
#[pg_guard]
pub unsafe extern "C-unwind" fn check_exempt(
    newval: *mut *mut c_char,
    _extra: *mut *mut std::ffi::c_void,
    source: pg_sys::GucSource::Type,
) -> bool {
    check_list(newval, |v| {
        let new = policy::parse_exempt(v)?;
        match START_POLICY.get() {
            Some((_, start)) if changed_later(source) && !policy::exempt_tightens(start, &new) => Err(
                "pgext.enforce_locked is on: pgext.enforce_exempt may only lose entries of its value at server start."
                    .to_string(),
            ),
            _ => Ok(new),
        }
    })
}

fn check_list<T>(newval: *mut *mut c_char, parse: impl Fn(&str) -> Result<T, String>) -> bool {
    // SAFETY: the GUC machinery passes a valid pointer to a NUL-terminated string (or NULL).
    let value = unsafe {
        if newval.is_null() || (*newval).is_null() {
            return true;
        }
        CStr::from_ptr(*newval).to_string_lossy().into_owned()
    };
    match parse(&value) {
        Ok(_) => true,
        Err(why) => {
            check_detail(why);
            false
        }
    }
}
