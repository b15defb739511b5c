//! This backend's caches, as SQL sees them: `hash_cache_status()`, `row_sources()` and
//! `reset_hash_cache()`, over every view that keeps rows.

use pgrx::prelude::*;

use super::{compat, inventory};
use crate::session::{self, rowcache};
use crate::values::to_i64;

/// This backend's file digest cache: how many digests it holds, how many it took over from the
/// background worker's shared file when the session first needed one, and its hits and misses.
#[pg_extern(volatile, parallel_unsafe)]
fn hash_cache_status() -> TableIterator<
    'static,
    (
        name!(entries, i64),
        name!(from_worker, Option<i64>),
        name!(hits, i64),
        name!(misses, i64),
    ),
> {
    let (entries, hits, misses, from_worker) = session::cache_status();
    TableIterator::once((
        to_i64(entries as u64),
        from_worker.map(|n| to_i64(n as u64)),
        to_i64(hits),
        to_i64(misses),
    ))
}

/// Where this session's last rows of each view that keeps them came from: `computed` (read and
/// analysed here), `backend` (this session's earlier rows, every watched path unchanged) or
/// `shared` (rows the worker or another session left, every watched path unchanged).
#[pg_extern(volatile, parallel_unsafe)]
fn row_sources() -> TableIterator<'static, (name!(view, String), name!(source, Option<String>))> {
    let (extensions, libraries, images) = inventory::row_sources();
    let name = |s: Option<rowcache::Source>| s.map(|s| s.as_str().to_string());
    TableIterator::new(vec![
        ("mounted_extensions".to_string(), name(extensions)),
        ("libraries".to_string(), name(libraries)),
        ("library_compat".to_string(), name(compat::row_source())),
        ("mounted_images".to_string(), name(images)),
    ])
}

/// Forgets every remembered file digest, script scan and library analysis of this backend, so
/// the next query re-reads every file. Returns how many digests were dropped.
#[pg_extern(volatile, parallel_unsafe)]
fn reset_hash_cache() -> i64 {
    session::with_read_cache(|c| c.clear());
    inventory::clear_rows();
    compat::clear_rows();
    session::analyzer::reset();
    session::with_cache(|c| {
        let n = c.len();
        c.clear();
        n as i64
    })
}
