//! Reading an old cluster and writing the answer as JSON, shared by `pgext-check upgrade` and
//! `pgext.upgrade_preflight()` (feature `client`).
//!
//! The client is the `postgres` crate (rust-postgres): maintained, pure Rust (no libpq to link,
//! which the server process must not load twice), synchronous, and its `Config` parses both
//! libpq `key=value` strings and `postgresql://` URIs. It does not read `PG*` environment
//! variables or `.pgpass`.

pub use postgres::Config;
use serde_json::{Value, json};

use super::{CFunction, Catalog, Database, InstalledExtension, UpgradeReport, queries};
use crate::problem::Problem;

/// The server's message for a server error (the error's own text is only "db error").
fn pg_err(e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.to_string(),
        None => e.to_string(),
    }
}

/// Reads every database of a cluster (those that allow connections, as `pg_upgrade` does), each
/// in its own connection and READ ONLY transaction. The error says which step failed.
pub fn read_catalog(config: &postgres::Config) -> Result<Catalog, String> {
    let connect = |db: Option<&str>| {
        let mut c = config.clone();
        if let Some(db) = db {
            c.dbname(db);
        }
        c.application_name("pgext-check upgrade");
        c.connect(postgres::NoTls).map_err(|e| {
            let at = db.map(|d| format!(" (database {d})")).unwrap_or_default();
            format!("connecting to the old cluster{at}: {}", pg_err(e))
        })
    };
    let mut first = connect(None)?;
    let mut catalog = Catalog::default();
    let names: Vec<String> = {
        let mut tx = first.build_transaction().read_only(true).start().map_err(pg_err)?;
        let row = tx.query_one(queries::SETTINGS, &[]).map_err(pg_err)?;
        let version: String = row.get(0);
        catalog.server_version_num = version.parse().map_err(|_| format!("server_version_num {version:?}"))?;
        if catalog.server_version_num < 130000 {
            return Err(format!(
                "the old cluster runs PostgreSQL {version}: 13 or later is supported"
            ));
        }
        let preload: String = row.get(1);
        catalog.shared_preload_libraries = preload
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        catalog.dynamic_library_path = row.get(2);
        let names = tx
            .query(queries::DATABASES, &[])
            .map_err(pg_err)?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        tx.rollback().map_err(pg_err)?;
        names
    };
    drop(first);
    for name in names {
        let mut client = connect(Some(&name))?;
        let mut tx = client.build_transaction().read_only(true).start().map_err(pg_err)?;
        let q = |tx: &mut postgres::Transaction<'_>, sql: &str| {
            tx.query(sql, &[])
                .map_err(|e| format!("database {name}: {}", pg_err(e)))
        };
        let extensions = q(&mut tx, queries::EXTENSIONS)?
            .iter()
            .map(|r| InstalledExtension {
                name: r.get(0),
                version: r.get(1),
            })
            .collect();
        let functions = q(&mut tx, queries::FUNCTIONS)?
            .iter()
            .map(|r| CFunction {
                library: r.get(0),
                signature: r.get(1),
                extension: r.get(2),
            })
            .collect();
        tx.rollback().map_err(pg_err)?;
        catalog.databases.push(Database {
            name,
            extensions,
            functions,
        });
    }
    Ok(catalog)
}

fn problems_json(problems: &[Problem]) -> (Vec<&'static str>, Vec<Value>) {
    (
        crate::problem::distinct_codes(problems)
            .into_iter()
            .map(|c| c.as_str())
            .collect(),
        problems
            .iter()
            .map(|p| json!({"code": p.code.as_str(), "severity": p.severity.as_str(), "message": p.message}))
            .collect(),
    )
}

/// The JSON: libraries, databases with their extensions and plan, compatible.
pub fn report_json(r: &UpgradeReport) -> Value {
    let libraries: Vec<Value> = r
        .libraries
        .iter()
        .map(|l| {
            let (codes, details) = problems_json(&l.problems);
            let mut v = json!({
                "library": l.library,
                "resolved": l.resolved,
                "loadable": l.loadable,
                "problems": codes,
                "problem_details": details,
                "referenced_by": l.referenced_by.iter().map(|(d, f)| json!({"database": d, "functions": f})).collect::<Vec<_>>(),
            });
            if let Some(o) = &l.old_server {
                let (codes, details) = problems_json(&o.problems);
                v["old_server"] = json!({"loadable": o.loadable, "preloaded": o.preloaded, "problems": codes, "problem_details": details});
            }
            v
        })
        .collect();
    let databases: Vec<Value> = r
        .databases
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "extensions": d.extensions.iter().map(|e| {
                    let (codes, details) = problems_json(&e.problems);
                    json!({
                        "name": e.name,
                        "installed_version": e.installed_version,
                        "target_version": e.target_version,
                        "image": e.image,
                        "update_path": e.update_path,
                        "compatible": e.compatible,
                        "problems": codes,
                        "problem_details": details,
                        "statement": e.statement,
                    })
                }).collect::<Vec<_>>(),
                "plan": d.statements(),
            })
        })
        .collect();
    json!({
        "old_major": r.old_major,
        "ld_library_path_order": r.order.as_str(),
        "ld_library_path": r.ld_library_path,
        "problems": r.problems.iter().map(|(i, p)| json!({"image": i, "code": p.code.as_str(), "severity": p.severity.as_str(), "message": p.message})).collect::<Vec<_>>(),
        "libraries": libraries,
        "databases": databases,
        "compatible": r.compatible(),
    })
}
