//! Pins and verification: a mounted image is byte-for-byte the content of its pinned OCI image.
//!
//! `verify_image()` resolves the pin (registry, `oci:` layout or `oci-archive:`), builds the
//! expected tree from the layers (or reuses the one recorded for the same image manifest), scans
//! the mount and records both in tables, so that `recheck_image()` can later re-hash only the
//! local files, with no network.

use pgext_core::pins;
use pgext_oci::ImageReference;
use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;

use crate::error::SqlError;
use crate::gucs;
use crate::tables::{Outcome, all_pins, check_records, delete_pin, effective_pin, record_all, recorded_tree, save_pin};
use crate::verify::{recheck_one, verify_one};

/// Verifies the mounted image `name` against its pinned reference: fetches (or reads) the image,
/// checks every digest, rebuilds the expected tree and compares it with the mount.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_unsafe)]
fn verify_image(
    name: &str,
) -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(pin_source, String),
        name!(status, String),
        name!(resolved_digest, Option<String>),
        name!(tag_digest, Option<String>),
        name!(expected_tree_digest, Option<String>),
        name!(actual_tree_digest, Option<String>),
        name!(missing, i32),
        name!(modified, i32),
        name!(unexpected, i32),
        name!(changed, i32),
        name!(error_code, Option<String>),
        name!(error, Option<String>),
        name!(recorded, bool),
    ),
> {
    let Some(pin) = effective_pin(name) else {
        SqlError::NotPinned(name.to_string()).raise()
    };
    if let Ok(reference) = &pin.parsed {
        check_layout_allowed(reference);
    }
    let records = check_records();
    let record = records
        .get(name)
        .and_then(|r| r.reusable_tree(&pin, || recorded_tree(name)));
    let outcome = verify_one(&pin, record);
    TableIterator::new(record_all(&[outcome], true))
}

/// Verifies every pinned image, one row each (see `verify_image`).
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_unsafe)]
fn verify_images() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(pin_source, String),
        name!(status, String),
        name!(resolved_digest, Option<String>),
        name!(tag_digest, Option<String>),
        name!(expected_tree_digest, Option<String>),
        name!(actual_tree_digest, Option<String>),
        name!(missing, i32),
        name!(modified, i32),
        name!(unexpected, i32),
        name!(changed, i32),
        name!(error_code, Option<String>),
        name!(error, Option<String>),
        name!(recorded, bool),
    ),
> {
    let records = check_records();
    let outcomes: Vec<Outcome> = all_pins()
        .iter()
        .filter(|p| p.effective)
        .map(|pin| {
            let record = records
                .get(&pin.pin.name)
                .and_then(|r| r.reusable_tree(pin, || recorded_tree(&pin.pin.name)));
            verify_one(pin, record)
        })
        .collect();
    TableIterator::new(record_all(&outcomes, true))
}

/// Re-hashes the mounted files of `name` and compares them with the tree recorded by the last
/// successful `verify_image`, with no network.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_unsafe)]
fn recheck_image(
    name: &str,
) -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(pin_source, String),
        name!(status, String),
        name!(resolved_digest, Option<String>),
        name!(tag_digest, Option<String>),
        name!(expected_tree_digest, Option<String>),
        name!(actual_tree_digest, Option<String>),
        name!(missing, i32),
        name!(modified, i32),
        name!(unexpected, i32),
        name!(changed, i32),
        name!(error_code, Option<String>),
        name!(error, Option<String>),
        name!(recorded, bool),
    ),
> {
    let records = check_records();
    let Some(rec) = records.get(name).filter(|r| r.resolved_digest.is_some()) else {
        SqlError::Prerequisite {
            message: format!("image \"{name}\" has no recorded verification"),
            hint: format!("Run SELECT * FROM pgext.verify_image('{name}') first."),
        }
        .raise()
    };
    let outcome = recheck_one(name, rec, &recorded_tree(name));
    TableIterator::new(record_all(&[outcome], false))
}

/// Raises 42501 if `reference` is a local layout outside `pgext.layout_directories` (the same
/// answer whether or not the path exists; verify_one reports it as `forbidden` for the worker and
/// `verify_images()`, where one pin must not stop the others).
fn check_layout_allowed(reference: &ImageReference) {
    let path = match reference {
        ImageReference::Layout(l) | ImageReference::Archive(l) => l.path(),
        ImageReference::Registry(_) => return,
    };
    if let Err(e) = pgext_oci::confine_layout_path(path, &gucs::layout_directories()) {
        SqlError::InsufficientPrivilege {
            message: e.to_string(),
            hint: "Local layouts must lie in one of the directories of pgext.layout_directories \
                   (a superuser setting; empty refuses them all)."
                .into(),
        }
        .raise()
    }
}

/// Pins `name` to `reference` (stored in `pgext.pins`; `pgext.images` wins on conflict).
#[pg_extern(volatile, parallel_unsafe)]
fn pin_image(name: &str, reference: &str) {
    if let Err(why) = pins::check_image_name(name) {
        SqlError::InvalidParameter {
            message: format!("\"{name}\" is not a valid image name: {why}"),
        }
        .raise()
    }
    match reference.parse::<ImageReference>() {
        Ok(r) => check_layout_allowed(&r),
        Err(e) => SqlError::InvalidParameter {
            // The parser's message already names the reference.
            message: e.to_string(),
        }
        .raise(),
    }
    save_pin(name, reference);
    if pins::parse_pins(&gucs::images())
        .map(|p| p.iter().any(|p| p.name == name))
        .unwrap_or(false)
    {
        pgrx::ereport!(
            PgLogLevel::WARNING,
            PgSqlErrorCode::ERRCODE_WARNING,
            format!("image \"{name}\" is also pinned in pgext.images, which takes precedence")
        );
    }
}

/// Removes the table pin of `name`; true if there was one.
#[pg_extern(volatile, parallel_unsafe)]
fn unpin_image(name: &str) -> bool {
    delete_pin(name)
}

/// Every pin, from the setting and the table, and which one is in effect.
#[pg_extern(volatile)]
fn image_pins() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, String),
        name!(source, String),
        name!(effective, bool),
    ),
> {
    TableIterator::new(
        all_pins()
            .into_iter()
            .map(|p| (p.pin.name, p.pin.reference, p.source.as_str().to_string(), p.effective)),
    )
}

extension_sql_file!(
    "../../sql/images.sql",
    name = "image_tables",
    requires = [
        verify_image,
        verify_images,
        recheck_image,
        pin_image,
        unpin_image,
        image_pins
    ]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test(error = "\"../x\" is not a valid image name: contains '/'")]
    fn pin_rejects_path_names() {
        Spi::run("SELECT pgext.pin_image('../x', 'a/b:1')").expect("spi");
    }

    #[pg_test(error = "image \"nowhere\" is not pinned")]
    fn verify_needs_a_pin() {
        Spi::run("SELECT * FROM pgext.verify_image('nowhere')").expect("spi");
    }

    #[pg_test]
    fn table_pins_round_trip_and_setting_wins() {
        // The configuration pins pgtest_setting_pin (see pg_test::postgresql_conf_options).
        Spi::run("SET pgext.layout_directories = '/layouts'").expect("set");
        Spi::run("SELECT pgext.pin_image('pgtest_setting_pin', 'oci:/layouts/a:1')").expect("pin");
        let rows = Spi::get_one::<i64>(
            "SELECT count(*) FROM pgext.image_pins WHERE name = 'pgtest_setting_pin' AND \
             ((source = 'setting' AND effective AND reference = 'oci:/other:2') OR (source = 'table' AND NOT effective))",
        )
        .expect("spi");
        assert_eq!(rows, Some(2));
        let status =
            Spi::get_one::<String>("SELECT status FROM pgext.mounted_images WHERE name = 'pgtest_setting_pin'")
                .expect("spi");
        assert_eq!(status.as_deref(), Some("never_checked"));
        let unpin = "SELECT pgext.unpin_image('pgtest_setting_pin')";
        assert_eq!(Spi::get_one::<bool>(unpin).expect("spi"), Some(true));
        assert_eq!(Spi::get_one::<bool>(unpin).expect("spi"), Some(false));
    }

    #[pg_test(error = "local layout \"/etc/x\": local layouts are not allowed (no layout directory is configured)")]
    fn layouts_are_refused_without_layout_directories() {
        Spi::run("SELECT pgext.pin_image('probe', 'oci:/etc/x:1')").expect("spi");
    }

    #[pg_test(error = "local layout \"/layouts/../etc/passwd\": not under an allowed layout directory")]
    fn layouts_outside_layout_directories_are_refused() {
        Spi::run("SET pgext.layout_directories = '/layouts'").expect("set");
        Spi::run("SELECT pgext.pin_image('probe', 'oci-archive:/layouts/../etc/passwd')").expect("spi");
    }

    #[pg_test]
    fn an_unreachable_registry_is_a_status_not_an_error() {
        Spi::run("SELECT pgext.pin_image('gone', '127.0.0.1:1/x:1')").expect("pin");
        let (status, code) =
            Spi::get_two::<String, String>("SELECT status, error_code FROM pgext.verify_image('gone')").expect("spi");
        assert_eq!(
            (status.as_deref(), code.as_deref()),
            (Some("unreachable"), Some("unreachable"))
        );
    }
}
