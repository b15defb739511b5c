//! Session state: what one backend keeps between statements and reads once per statement — the
//! settings, the inventory and file-digest caches, the library analyzer, the row caches of the
//! views (`mounted_extensions`' rows, which the worker also leaves for new sessions, in
//! `extension_rows.rs`) — and how a cancelled file operation ends the statement. The SQL surface
//! (`api/`), the enforcement hooks and the worker read it; it imports none of them.

pub mod analyzer;
pub mod extension_rows;
pub mod rowcache;

use std::cell::RefCell;
use std::collections::HashMap;

use pgext_core::hash::HashCache;
use pgext_core::inventory::{Inventory, ReadCache, Settings};
use pgext_core::paths::{self, PathElement};
use pgrx::prelude::*;

use crate::error::{OrRaise, SqlError};
use crate::{gucs, server};

thread_local! {
    /// File digests of this backend, keyed by file identity. A backend is a single-threaded
    /// process, so a thread-local is the backend's own cache; hashing threads never touch it.
    static HASH_CACHE: RefCell<HashCache> = RefCell::new(HashCache::new());
    /// Library references of unchanged scripts.
    static READ_CACHE: RefCell<ReadCache> = RefCell::new(ReadCache::default());
}

/// The inventory of the calling session, reusing the backend's script cache.
pub fn read_inventory(with_references: bool) -> Inventory {
    read_inventory_with(&settings(with_references))
}

/// [`read_inventory`] with settings the caller adjusted.
pub fn read_inventory_with(s: &Settings) -> Inventory {
    READ_CACHE.with(|c| Inventory::collect_cached(s, &mut c.borrow_mut()))
}

thread_local! {
    /// Records taken over from the worker's shared digest file at this process's first use of
    /// its hash cache (`None`: not tried yet).
    static SHARED_LOADED: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Where the background worker leaves the digests it computed for every backend to start from:
/// in `pg_stat_tmp`, the data directory's place for transient files (never in a base backup).
fn shared_digests_path() -> std::path::PathBuf {
    std::path::Path::new(&server::data_dir()).join("pg_stat_tmp/pgext_digests")
}

/// Runs `f` with the backend's hash cache. The first use in a process starts the cache from the
/// worker's shared digest file, so a new session does not hash again what the worker hashed; an
/// entry serves only a file whose device, inode, size, mtime and ctime all match (see
/// `HashCache::load`), so a changed file is read again.
pub fn with_cache<T>(f: impl FnOnce(&mut HashCache) -> T) -> T {
    HASH_CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if SHARED_LOADED.get().is_none() {
            SHARED_LOADED.set(Some(cache.load(&shared_digests_path()).unwrap_or(0)));
        }
        f(&mut cache)
    })
}

/// Writes this process's digests for backends to start from (the worker calls it after each
/// cycle). Failures only cost speed: they are logged, never raised.
pub fn share_digests() {
    if let Err(e) = with_cache(|c| c.save(&shared_digests_path())) {
        pgrx::log!("pgext: could not write the shared digest file: {e}");
    }
}

/// Turns a cancelled file operation into the pending interrupt (cancel, statement_timeout, which
/// report their own SQLSTATE), or a query-cancelled error should it have been consumed already.
pub fn cancelled() -> ! {
    server::rethrow_deferred_interrupt();
    pgrx::check_for_interrupts!();
    SqlError::Cancelled("interrupted while reading files").raise()
}

/// The extensions installed in the current database, with their versions. The type is
/// qualified: the enforcement hooks call this under whatever search_path the session has.
pub fn installed_extensions() -> HashMap<String, String> {
    Spi::connect(|client| {
        let mut map = HashMap::new();
        let rows = client.select(
            "SELECT extname::pg_catalog.text, extversion FROM pg_catalog.pg_extension",
            None,
            &[],
        )?;
        for row in rows {
            if let (Some(n), Some(v)) = (row.get::<String>(1)?, row.get::<String>(2)?) {
                map.insert(n, v);
            }
        }
        Ok::<_, pgrx::spi::Error>(map)
    })
    .or_raise("read", "pg_extension")
}

/// The inventory settings of the calling session.
pub fn settings(with_references: bool) -> Settings {
    let (control, library) = current_elements();
    let installed = installed_extensions();
    Settings {
        control,
        library,
        pkglibdir: server::pkglibdir(),
        extensions_root: gucs::extensions_root(),
        // A backend inherits the postmaster's environment: this is what its dlopen() uses.
        ld_library_path: env_list("LD_LIBRARY_PATH"),
        path: env_list("PATH"),
        env: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k != "PATH" && k != "LD_LIBRARY_PATH")
            .collect(),
        installed,
        with_references,
        references_for: None,
        pinned: Vec::new(),
        // A backend's working directory: where a script's relative COPY path is opened.
        data_directory: Some(server::data_dir()),
        server_root: None,
        server_mounts: Vec::new(),
        reads_as_server: true,
    }
}

/// A `:`-separated variable of the environment, split.
fn env_list(var: &str) -> Vec<String> {
    std::env::var(var)
        .map(|v| v.split(':').filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Expands both settings of the calling session; pure with respect to the file system except
/// for the probes, so it also serves the inventory.
pub fn current_elements() -> (Vec<PathElement>, Vec<PathElement>) {
    let control = paths::expand_control_path(&server::extension_control_path(), &server::sharedir());
    let library = paths::expand_library_path(&server::dynamic_library_path(), &server::pkglibdir());
    (control, library)
}

/// Runs `f` with the backend's cache of script scans.
pub fn with_read_cache<T>(f: impl FnOnce(&mut ReadCache) -> T) -> T {
    READ_CACHE.with(|c| f(&mut c.borrow_mut()))
}

/// This backend's digest cache: (entries, hits, misses), and how many digests it took over from
/// the worker's shared file (`None`: not tried yet).
pub fn cache_status() -> (usize, u64, u64, Option<usize>) {
    let (entries, hits, misses) = HASH_CACHE.with(|c| {
        let c = c.borrow();
        (c.len(), c.hits(), c.misses())
    });
    (entries, hits, misses, SHARED_LOADED.get())
}
