//! Signed image catalogs: `pgext.catalog_status` (the catalog of `pgext.catalog` and what became
//! of its bundle) and `pgext.image_catalog` (every mounted or pinned image judged against it).
//! Loading, verification and matching are `pgext_oci::catalog` and `pgext_core::catalog`; the
//! backend's cache is `crate::catalog`.

use pgext_core::catalog::CatalogStatus;
use pgext_core::inventory::Inventory;
use pgext_core::policy;
use pgrx::datum::to_timestamp;
use pgrx::prelude::*;

use crate::{catalog, session, tables};

/// The catalog of `pgext.catalog`: one row, also when it is not set (status `off`).
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_safe)]
fn catalog_status() -> TableIterator<
    'static,
    (
        name!(catalog, Option<String>),
        name!(bundle, Option<String>),
        name!(status, String),
        name!(detail, String),
        name!(signed_by, Option<String>),
        name!(signed_at, Option<TimestampWithTimeZone>),
        name!(sha256, Option<String>),
        name!(catalog_name, Option<String>),
        name!(os, Option<String>),
        name!(date, Option<String>),
        name!(for_this_server, Option<Vec<String>>),
    ),
> {
    let paths = catalog::paths();
    let loaded = catalog::current();
    let server = catalog::server();
    let c = loaded.catalog.as_ref();
    TableIterator::once((
        paths.as_ref().map(|(p, _)| p.display().to_string()),
        paths.as_ref().map(|(_, b)| b.display().to_string()),
        loaded.status.as_str().to_string(),
        loaded.detail.clone(),
        loaded.signed_by.clone(),
        loaded.signed_at.map(|t| to_timestamp(t as f64)),
        loaded.sha256.clone(),
        c.and_then(|c| c.name.clone()),
        c.and_then(|c| c.os.clone()),
        c.and_then(|c| c.date.clone()),
        c.map(|c| c.for_server(&server).iter().map(|e| e.reference.clone()).collect()),
    ))
}

/// Every mounted or pinned image judged against the signed catalog.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_safe)]
fn image_catalog() -> TableIterator<
    'static,
    (
        name!(name, String),
        name!(reference, Option<String>),
        name!(digest, Option<String>),
        name!(in_catalog, bool),
        name!(catalog_digest, Option<String>),
        name!(catalog_reference, Option<String>),
        name!(catalog_status, String),
        name!(detail, String),
    ),
> {
    let pins = tables::all_pins();
    let checks = tables::check_records();
    let mut s = session::settings(false);
    s.pinned = pins
        .iter()
        .filter(|p| p.effective)
        .map(|p| p.pin.name.clone())
        .collect();
    let images = session::with_read_cache(|c| Inventory::image_rows(&s, c));
    let loaded = catalog::current();
    let server = catalog::server();
    let mut rows: Vec<_> = images
        .into_iter()
        .map(|img| {
            let pin = pins.iter().find(|p| p.effective && p.pin.name == img.name);
            let reference = pin.map(|p| p.pin.reference.clone());
            let check = checks.get(&img.name).map(tables::CheckRecord::fact);
            let digest = reference
                .as_deref()
                .and_then(|r| policy::image_digest(r, check.as_ref()));
            let (in_catalog, catalog_digest, catalog_reference, detail) = match &loaded.catalog {
                Some(c) if loaded.status == CatalogStatus::Verified => {
                    let j = c.judge(&server, &img.name, digest.as_deref());
                    (j.in_catalog, j.catalog_digest, j.catalog_reference, j.why)
                }
                _ => (
                    false,
                    None,
                    None,
                    format!("the catalog is {}: it lists nothing", loaded.status.as_str()),
                ),
            };
            (
                img.name,
                reference,
                digest,
                in_catalog,
                catalog_digest,
                catalog_reference,
                loaded.status.as_str().to_string(),
                detail,
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    TableIterator::new(rows)
}

extension_sql_file!(
    "../../sql/catalog.sql",
    name = "catalog_views",
    requires = [catalog_status, image_catalog, "image_tables"]
);
