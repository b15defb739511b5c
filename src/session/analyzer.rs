//! The backend's library analyzer and its reports, and the verdicts they give: an unchanged
//! library is never analysed twice in one backend.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CStr;

use pgext_core::compat::{self, Preloaded, Verdict};
use pgext_core::elf::{self, Analyzer, LibraryReport, SearchConfig, ServerMagic};
use pgext_core::hash::FileKey;
use pgext_core::inventory::Inventory;
use pgrx::pg_sys;

use crate::server;

thread_local! {
    /// The backend's analyzer: it caches the ld.so cache and parsed dependencies by identity.
    static ANALYZER: RefCell<Option<Analyzer>> = const { RefCell::new(None) };
    /// Reports by library path and identity: an unchanged library is not analysed again.
    static REPORTS: RefCell<HashMap<(String, FileKey), LibraryReport>> = RefCell::new(HashMap::new());
}

/// The server's own magic block values, as dfmgr.c compares them.
fn server_magic() -> ServerMagic {
    let class = if cfg!(target_pointer_width = "64") {
        elf::ElfClass::Elf64
    } else {
        elf::ElfClass::Elf32
    };
    let abi_extra: &CStr = pg_sys::FMGR_ABI_EXTRA;
    let mut m = ServerMagic::pg18(class).with_abi_extra(&abi_extra.to_string_lossy());
    m.version = (pg_sys::PG_VERSION_NUM / 100) as i32;
    m.funcmaxargs = pg_sys::FUNC_MAX_ARGS as i32;
    m.indexmaxkeys = pg_sys::INDEX_MAX_KEYS as i32;
    m.namedatalen = pg_sys::NAMEDATALEN as i32;
    m.len = std::mem::size_of::<pg_sys::Pg_magic_struct>() as i32;
    m
}

/// Analyses `path` with the backend's analyzer, reusing the report of an unchanged file.
pub fn analyze(path: &str) -> LibraryReport {
    let key = std::fs::metadata(path)
        .ok()
        .map(|m| (path.to_string(), FileKey::from_metadata(&m)));
    if let Some(k) = &key
        && let Some(r) = REPORTS.with(|c| c.borrow().get(k).cloned())
    {
        return r;
    }
    let report = ANALYZER.with(|a| {
        let mut a = a.borrow_mut();
        let analyzer = a.get_or_insert_with(|| Analyzer::new(SearchConfig::for_this_process(), server_magic()));
        analyzer.analyze(std::path::Path::new(path))
    });
    if let Some(k) = key {
        REPORTS.with(|c| c.borrow_mut().insert(k, report.clone()));
    }
    report
}

/// Forgets every analysis of this backend; returns how many reports were dropped. (The views'
/// row caches are the caller's to clear.)
pub fn reset() -> usize {
    ANALYZER.with(|a| a.borrow_mut().take());
    REPORTS.with(|c| {
        let n = c.borrow().len();
        c.borrow_mut().clear();
        n
    })
}

pub(crate) fn preload_list() -> Vec<String> {
    server::setting(c"shared_preload_libraries")
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `shared_preload_libraries`, resolved to files with the session's `dynamic_library_path`.
/// Settings only, no SPI: the background worker judges outside any transaction.
pub(crate) fn preloaded() -> Preloaded {
    let (_, library) = super::current_elements();
    let settings = pgext_core::inventory::Settings {
        library,
        pkglibdir: server::pkglibdir(),
        ..Default::default()
    };
    Preloaded::resolve(&preload_list(), &settings)
}

/// Verdicts for every visible extension of `inv`.
pub fn verdicts(inv: &Inventory) -> BTreeMap<String, Verdict> {
    compat::judge_all(inv, &mut analyze, &preloaded())
}
