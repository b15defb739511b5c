//! Reads of server state that need `unsafe`: settings, installation directories, interrupts.
//! Everything here must run on the backend's main thread.

use std::ffi::{CStr, c_char};

use pgrx::pg_sys;

/// Converts a server C string to an owned `String` (lossy: paths are shown, not reused as keys).
fn owned(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the server hands out NUL-terminated strings that live at least for this call.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
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

/// `extension_control_path` and `dynamic_library_path`.
pub fn extension_control_path() -> String {
    setting(c"extension_control_path")
}

/// See [`extension_control_path`].
pub fn dynamic_library_path() -> String {
    setting(c"dynamic_library_path")
}

/// Whether a cancel, `statement_timeout` or termination is pending. Long loops poll this from
/// the main thread, stop their workers, then call `check_for_interrupts!()` to let it take effect.
pub fn interrupt_pending() -> bool {
    // SAFETY: a plain read of a sig_atomic_t flag set by signal handlers.
    unsafe { std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::InterruptPending)) != 0 }
}
