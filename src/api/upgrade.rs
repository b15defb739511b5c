//! Major upgrades and `ALTER EXTENSION … UPDATE`, in SQL:
//! - `pgext.upgrade_preflight(server, images, old_images, …)`: `pgext-check upgrade` run from
//!   inside the old cluster (this one), the same engine and JSON (`pgext_core::upgrade`). The
//!   other databases are read through a connection per database over this server's Unix socket,
//!   as the calling role, in READ ONLY transactions.
//! - `pgext.extension_updates`: for each installed extension of this database, whether the
//!   update path to the default version exists and every script on it parses in this server's
//!   grammar; `pgext.extension_update_paths()` the same for every version the scripts name.

use std::ffi::{CString, c_int, c_void};

use pgext_core::inventory::Inventory;
use pgext_core::target::Target;
use pgext_core::upgrade::{self, JobLayout, LdOrder, SyntaxError};
use pgrx::JsonB;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;

use crate::api::preflight::{Work, image_dirs, not_a_source, require_file_access};
use crate::error::SqlError;
use crate::server;
use crate::session::{cancelled, settings};
use crate::values::{codes, details};

/// This server's grammar: `raw_parser()`, its error's cursor read by an error context callback
/// (as `script_error_callback()` in extension.c does) because a caught error keeps no position.
struct RawParser;

unsafe extern "C-unwind" fn keep_position(arg: *mut c_void) {
    // SAFETY: arg is the c_int of `RawParser::parse`, alive while the callback is on the stack;
    // geterrposition() only reads the error being raised.
    unsafe { *arg.cast::<c_int>() = pg_sys::geterrposition() };
}

impl upgrade::ScriptParser for RawParser {
    fn parse(&self, sql: &str) -> Result<(), SyntaxError> {
        let Ok(text) = CString::new(sql) else {
            return Err(SyntaxError {
                message: "the script holds a NUL byte".into(),
                line: None,
            });
        };
        let mut position: c_int = 0;
        // SAFETY: the callback is pushed for the parse only and popped on both paths below.
        let mut callback = pg_sys::ErrorContextCallback {
            previous: unsafe { pg_sys::error_context_stack },
            callback: Some(keep_position),
            arg: (&raw mut position).cast(),
        };
        let previous = callback.previous;
        unsafe { pg_sys::error_context_stack = &raw mut callback };
        let result = PgTryBuilder::new(|| {
            // SAFETY: a NUL-terminated string; the parse tree lives in the current memory context.
            unsafe { pg_sys::raw_parser(text.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT) };
            Ok(())
        })
        .catch_others(|e| {
            Err(match e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r.message().to_string(),
                CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
            })
        })
        .execute();
        // SAFETY: restores what was there before the push.
        unsafe { pg_sys::error_context_stack = previous };
        result.map_err(|message| SyntaxError {
            message,
            line: upgrade::line_of_cursor(sql, usize::try_from(position).unwrap_or(0)),
        })
    }
}

/// A connection string for this server, as the calling role, over its first Unix socket.
fn local_config() -> upgrade::client::Config {
    let sockets = server::setting(c"unix_socket_directories");
    let Some(dir) = sockets.split(',').map(str::trim).find(|d| !d.is_empty()) else {
        SqlError::Prerequisite {
            message: "this server listens on no Unix socket".into(),
            hint: "upgrade_preflight reads the other databases over unix_socket_directories; use pgext-check upgrade --from instead.".into(),
        }
        .raise()
    };
    let port: u16 = server::setting(c"port").parse().unwrap_or(5432);
    let user = Spi::get_one::<String>("SELECT current_user::text")
        .ok()
        .flatten()
        .unwrap_or_default();
    let db = Spi::get_one::<String>("SELECT current_database()::text")
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut c = upgrade::client::Config::new();
    c.host_path(dir)
        .port(port)
        .user(&user)
        .dbname(&db)
        .connect_timeout(std::time::Duration::from_secs(10));
    c
}

/// This server's installation (the directory above `bin/postgres`).
fn this_server() -> Target {
    let exec = server::owned(std::ptr::addr_of!(pg_sys::my_exec_path).cast());
    let dir = std::path::Path::new(&exec)
        .parent()
        .and_then(|b| b.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    Target::open(&dir).unwrap_or_else(|e| {
        SqlError::InvalidParameter {
            message: format!("this server: {e}"),
        }
        .raise()
    })
}

/// Will a `pg_upgrade` of this cluster to `server` with `images` (mounted at /new-extensions)
/// and `old_images` (at /extensions) work, and which `ALTER EXTENSION … UPDATE` follow? The
/// JSON of `pgext-check upgrade --old-server <this installation>`.
#[pg_extern(volatile)]
fn upgrade_preflight(
    server: Option<&str>,
    images: Option<Vec<Option<String>>>,
    old_images: default!(Option<Vec<Option<String>>>, "NULL"),
    ld_library_path_order: default!(Option<&str>, "'old-first'"),
    preload: default!(Option<&str>, "''"),
) -> JsonB {
    require_file_access();
    let Some(server_arg) = server else {
        SqlError::InvalidParameter {
            message: "server must not be NULL".into(),
        }
        .raise()
    };
    let order: LdOrder = ld_library_path_order
        .unwrap_or("old-first")
        .parse()
        .unwrap_or_else(|_| {
            SqlError::InvalidParameter {
                message: format!(
                    "ld_library_path_order must be old-first or new-first, not \"{}\"",
                    ld_library_path_order.unwrap_or_default()
                ),
            }
            .raise()
        });
    let mut work = Work::default();
    let server_dir = match pgext_oci::ImageArg::parse(server_arg).unwrap_or_else(|e| {
        SqlError::InvalidParameter {
            message: not_a_source("server", server_arg, &e),
        }
        .raise()
    }) {
        pgext_oci::ImageArg::Dir(dir) => dir,
        pgext_oci::ImageArg::Reference(r) => work.fetch(
            &r,
            "server",
            pgext_oci::Selection::ForAnalysis,
            pgext_oci::Platform::host(),
        ),
    };
    let target =
        Target::open(&server_dir).unwrap_or_else(|e| SqlError::InvalidParameter { message: e.to_string() }.raise());
    let platform = pgext_oci::Platform::linux(target.host.machine_name());
    let new = image_dirs(Some(images.unwrap_or_default()), &mut work, &platform);
    let old = image_dirs(Some(old_images.unwrap_or_default()), &mut work, &platform);
    let catalog = upgrade::client::read_catalog(&local_config()).unwrap_or_else(|e| {
        SqlError::Prerequisite {
            message: format!("cannot read this cluster's databases: {e}"),
            hint: "The calling role must be able to connect to every database over the Unix socket (pg_hba.conf)."
                .into(),
        }
        .raise()
    });
    let preload: Vec<String> = preload
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let this = this_server();
    let layout = JobLayout { old, new, order };
    let inputs = upgrade::Inputs {
        target: &target,
        old_target: Some(&this),
        layout: &layout,
        new_preload: &preload,
        catalog: &catalog,
        parser: &RawParser,
    };
    match upgrade::run(&inputs, &server::interrupt_pending) {
        Ok(r) => JsonB(upgrade::client::report_json(&r)),
        Err(_) => cancelled(),
    }
}

/// For each extension installed in this database: can `ALTER EXTENSION … UPDATE` bring it to
/// the default version? The path, and whether every script on it parses.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn extension_updates() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(installed_version, String),
        name!(default_version, Option<String>),
        name!(update_path, Option<Vec<String>>),
        name!(updatable, Option<bool>),
        name!(problems, Vec<String>),
        name!(problem_details, JsonB),
    ),
> {
    let mut s = settings(false);
    s.with_references = false;
    let inv = Inventory::collect(&s);
    let rows = upgrade::update_checks(&inv, &RawParser);
    TableIterator::new(rows.into_iter().map(|c| {
        (
            c.name,
            c.installed_version,
            c.default_version,
            c.update_path,
            c.updatable,
            codes(&c.problems),
            details(&c.problems),
        )
    }))
}

/// For every version the scripts of each visible extension name (or of `extension`): the update
/// path to the default version and whether every script on it parses — what
/// `pg_extension_update_paths()` says for the default as target, checked, for any version a
/// database may hold (installed from an older image, or before a major upgrade).
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile)]
fn extension_update_paths(
    extension: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(source, String),
        name!(target, String),
        name!(update_path, Option<Vec<String>>),
        name!(updatable, bool),
        name!(problems, Vec<String>),
        name!(problem_details, JsonB),
    ),
> {
    let mut s = settings(false);
    s.with_references = false;
    let inv = Inventory::collect(&s);
    let Ok(rows) = upgrade::update_chains(&inv, extension, &RawParser, &server::interrupt_pending) else {
        cancelled()
    };
    TableIterator::new(rows.into_iter().map(|c| {
        (
            c.name,
            c.source,
            c.target,
            c.update_path,
            c.updatable,
            codes(&c.problems),
            details(&c.problems),
        )
    }))
}

extension_sql_file!(
    "../../sql/upgrade.sql",
    name = "upgrade_views",
    requires = [
        upgrade_preflight,
        extension_updates,
        extension_update_paths,
        "preflight_grants"
    ]
);
