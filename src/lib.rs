//! pgext: inventory, integrity and compatibility of PostgreSQL 18 extension images, in SQL.
//!
//! This crate is thin glue: logic lives in `pgext-core` (no server needed) and `pgext-oci`.
//! Layers, each importing only those below it:
//! - `api/` (the SQL surface, one file per group of objects), `worker/` (the background worker)
//!   and `enforce/` (the hooks): leaves over the layers below;
//! - `session/` (settings, the backend's caches and analyzer, the views' kept rows), `tables.rs`
//!   (every read and write of pgext's own tables), `verify.rs` (verification and recheck, no
//!   SQL), `shmem.rs` (the worker's status in shared memory);
//! - `server.rs` (unsafe reads of server state), `gucs.rs` (every setting), `error.rs` (the
//!   mapping to SQLSTATEs), `values.rs` (problem codes and details as SQL values).

use std::ffi::CStr;

pub(crate) mod api;
mod catalog;
mod enforce;
mod error;
mod gucs;
mod server;
mod session;
mod shmem;
mod tables;
mod values;
mod verify;
mod worker;

// The grammar against the script scanner, on the server's own extension scripts (test-only).
#[cfg(any(test, feature = "pg_test"))]
mod script_check;

/// `CARGO_PKG_VERSION` as a C string, for the magic block.
const VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(v) => v,
    Err(_) => panic!("CARGO_PKG_VERSION contains a NUL byte"),
};

// pgrx 0.18.1's `pg_module_magic!(name, version)` writes the version into the `name` field (its
// `version` arm expands to `field_update!(name = …)`), so both are spelled out here.
pgrx::pg_module_magic!(name = c"pgext", version = VERSION);

pgrx::extension_sql_file!("../sql/schema.sql", name = "schema_comment", bootstrap);
// What every object is (COMMENT ON), after every object exists.
pgrx::extension_sql_file!("../sql/comments.sql", name = "comments", finalize);

/// Runs when the library is loaded: preloaded by the postmaster or on first use in a backend.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    worker::init();
    enforce::init();
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn magic_block_carries_name_and_version() {
        let row = Spi::get_two::<String, String>(
            "SELECT module_name, version FROM pg_get_loaded_modules() WHERE file_name = 'pgext.so'",
        )
        .expect("pg_get_loaded_modules");
        assert_eq!(
            row,
            (Some("pgext".to_string()), Some(env!("CARGO_PKG_VERSION").to_string()))
        );
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // pgext.images is reload-only: tests get their setting pin from the configuration.
        let mut conf = vec!["pgext.images = 'pgtest_setting_pin=oci:/other:2'"];
        // More extension directories for script_check (the wide oracle's corpus); this runs in
        // the test runner, once per cluster.
        if let Ok(more) = std::env::var("PGEXT_SCRIPT_CHECK_PATH") {
            let setting = format!("extension_control_path = '$system:{}'", more.replace('\'', "''"));
            conf.push(Box::leak(setting.into_boxed_str()));
        }
        conf
    }
}
