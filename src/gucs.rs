//! Every pgext setting, registered in one place under the `pgext.` prefix.
//!
//! Read settings through the accessors: `GucSetting::get()` may only run on the backend's main
//! thread, and the accessors return owned values that worker threads can take.

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, pg_sys};

/// Where CloudNativePG mounts extension images; every directory directly below it is one image.
static EXTENSIONS_ROOT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"/extensions"));

/// Threads used to hash files (0 = one per CPU).
static HASH_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Registers the settings. Called from `_PG_init`, once per process.
pub fn init() {
    GucRegistry::define_string_guc(
        c"pgext.extensions_root",
        c"Directory under which each subdirectory is one mounted extension image.",
        c"CloudNativePG mounts image volumes at /extensions/<name>. Path elements outside this root are \
          inventoried as unmanaged.",
        &EXTENSIONS_ROOT,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
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
#[allow(dead_code)] // read by the inventory views
pub fn hash_threads() -> usize {
    match HASH_THREADS.get() {
        n if n > 0 => n as usize,
        _ => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }
}
