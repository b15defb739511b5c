//! Reads of server state that need `unsafe`: settings, installation directories, interrupts,
//! parse-tree nodes. Everything here must run on the backend's main thread.

use std::ffi::{CStr, c_char};

use pgrx::PgList;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::PgTryBuilder;

/// Converts a server C string (a setting, a path, a parse-tree name) to an owned `String`; NULL
/// is empty (lossy: names are shown and matched, not reused as raw bytes).
pub fn owned(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the server hands out NUL-terminated strings that live at least for this call.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// The `AS 'file' [, 'symbol']` strings of a `CREATE FUNCTION|PROCEDURE … LANGUAGE C`, or `None`
/// for any other language. The server does not fold quoted language names, so only an unquoted
/// `c` (any case) or exactly `"c"` is C.
///
/// # Safety
/// `stmt` is a `CreateFunctionStmt` built by the grammar; `defGetString`/`defGetStringList`
/// raise on malformed options as the server itself would.
pub unsafe fn c_function_as(stmt: *const pg_sys::CreateFunctionStmt) -> Option<Vec<String>> {
    let (mut language, mut as_list) = (None, Vec::new());
    // SAFETY: options is a List of DefElem; "as" holds a List of String nodes (see above).
    unsafe {
        for d in PgList::<pg_sys::DefElem>::from_pg((*stmt).options).iter_ptr() {
            match owned((*d).defname).as_str() {
                "language" => language = Some(owned(pg_sys::defGetString(d))),
                "as" => {
                    let l = PgList::<pg_sys::String>::from_pg(pg_sys::defGetStringList(d));
                    as_list = l.iter_ptr().map(|v| owned((*v).sval)).collect();
                }
                _ => {}
            }
        }
    }
    (language.as_deref() == Some("c")).then_some(as_list)
}

/// The current value of a server setting, as `SHOW` would print it.
pub fn setting(name: &CStr) -> String {
    // SAFETY: GetConfigOption returns a pointer into GUC storage valid until the next change.
    owned(unsafe { pg_sys::GetConfigOption(name.as_ptr(), false, false) })
}

/// The server's share directory, as `get_share_path(my_exec_path)` computes it for `$system`.
pub fn sharedir() -> String {
    let mut buf = [0 as c_char; pg_sys::MAXPGPATH as usize];
    // SAFETY: my_exec_path is set at startup; buf has MAXPGPATH bytes as get_share_path requires.
    unsafe {
        pg_sys::get_share_path(
            std::ptr::addr_of!(pg_sys::my_exec_path).cast::<c_char>(),
            buf.as_mut_ptr(),
        );
    }
    owned(buf.as_ptr())
}

/// The server's library directory: the value of `$libdir`.
pub fn pkglibdir() -> String {
    // pkglib_path is a NUL-terminated array set once at startup.
    owned(std::ptr::addr_of!(pg_sys::pkglib_path).cast::<c_char>())
}

/// The data directory (`$PGDATA`).
pub fn data_dir() -> String {
    // SAFETY: DataDir is set at startup, before any backend or worker runs pgext's code.
    owned(unsafe { pg_sys::DataDir })
}

/// `extension_control_path` and `dynamic_library_path`.
pub fn extension_control_path() -> String {
    setting(c"extension_control_path")
}

/// See [`extension_control_path`].
pub fn dynamic_library_path() -> String {
    setting(c"dynamic_library_path")
}

/// The cancel callback of every long file or network operation: whether the operation must stop
/// because PostgreSQL wants to end the query (cancel, `statement_timeout`) or the process
/// (termination). Runs on the main thread only; callers stop their workers when it says true and
/// then call [`crate::session::cancelled`], which raises the real error.
///
/// `InterruptPending` alone does not mean that: PostgreSQL also sets it for interrupts it serves
/// in place and then carries on — the `client_connection_check_interval` timer, a ProcSignal
/// barrier (`DROP DATABASE` waits for every backend to absorb one), `pg_log_backend_memory_contexts()`,
/// parallel and statistics messages. So when only such interrupts are pending, PostgreSQL's own
/// `ProcessInterrupts` serves them right here and the operation goes on. Whatever it raises (a
/// recovery conflict on a standby cancels the query) is kept and re-raised by
/// [`rethrow_deferred_interrupt`] once the workers are stopped; a FATAL from it (the client
/// connection check found the client gone) ends the process at once, as it would anywhere.
pub fn interrupt_pending() -> bool {
    if DEFERRED.with(|d| d.borrow().is_some()) {
        return true; // until the caller has re-raised it
    }
    // SAFETY: plain reads of sig_atomic_t flags set by signal handlers.
    unsafe {
        if !flag(&raw const pg_sys::InterruptPending) {
            return false;
        }
        // Interrupts that end the query or the process: stop first, raise once workers are joined.
        if flag(&raw const pg_sys::ProcDiePending)
            || flag(&raw const pg_sys::QueryCancelPending)
            || flag(&raw const pg_sys::ClientConnectionLost)
            || flag(&raw const pg_sys::TransactionTimeoutPending)
            || flag(&raw const pg_sys::IdleInTransactionSessionTimeoutPending)
            || flag(&raw const pg_sys::IdleSessionTimeoutPending)
        {
            return true;
        }
    }
    let served = PgTryBuilder::new(|| {
        pgrx::check_for_interrupts!();
        None
    })
    .catch_others(Some)
    .execute();
    match served {
        None => false,
        Some(error) => {
            DEFERRED.with(|d| d.replace(Some(error)));
            true
        }
    }
}

/// Reads one of PostgreSQL's `volatile sig_atomic_t` interrupt flags.
///
/// # Safety
/// `p` must point to such a flag.
unsafe fn flag(p: *const std::ffi::c_int) -> bool {
    // SAFETY: the caller passes the address of a live global.
    unsafe { std::ptr::read_volatile(p) != 0 }
}

thread_local! {
    /// An error PostgreSQL raised while [`interrupt_pending`] served interrupts in place.
    static DEFERRED: std::cell::RefCell<Option<CaughtError>> = const { std::cell::RefCell::new(None) };
}

/// Re-raises the error kept by [`interrupt_pending`], if any (never returns then).
pub fn rethrow_deferred_interrupt() {
    if let Some(error) = DEFERRED.with(|d| d.take()) {
        error.rethrow();
    }
}
