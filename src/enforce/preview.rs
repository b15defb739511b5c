//! `pgext.enforcement_preview`: what `pgext.enforce = on` would refuse in this database, now —
//! every installed extension and every C function whose library comes from an image, with the
//! decision, the failed conditions and the fix. The function rows are the function-load hook's
//! own decisions (the same cache, the same facts); the extension rows are what
//! `ALTER EXTENSION … UPDATE` (or a new `CREATE EXTENSION`) of that version would face.

use pgext_core::plan::{self, Role};
use pgext_core::policy::{self, Action, Condition, Subject};
use pgrx::prelude::*;

use super::judge::Facts;
use super::load;
use crate::error::OrRaise;
use crate::gucs;

/// One row of the preview.
type Row = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The decision `on` would make, its failed conditions, DETAIL and HINT.
fn row_decision(
    action: Action,
    r: Option<policy::Refusal>,
) -> (String, Option<String>, Option<String>, Option<String>) {
    let decision = match action {
        Action::Refuse | Action::Warn => "refused",
        Action::Exempt => "exempt",
        Action::Allow => "allowed",
    };
    match r {
        Some(r) if matches!(action, Action::Refuse | Action::Warn) => {
            (decision.to_string(), Some(r.failed), Some(r.detail), Some(r.hint))
        }
        _ => (decision.to_string(), None, None, None),
    }
}

fn extension_rows(out: &mut Vec<Row>) {
    let installed: Vec<(String, String)> = Spi::connect(|c| {
        let mut v = Vec::new();
        for r in c.select(
            "SELECT extname::pg_catalog.text, extversion FROM pg_catalog.pg_extension ORDER BY 1",
            None,
            &[],
        )? {
            if let (Some(n), Some(ver)) = (r.get::<String>(1)?, r.get::<String>(2)?) {
                v.push((n, ver));
            }
        }
        Ok::<_, pgrx::spi::Error>(v)
    })
    .or_raise("read", "pg_extension");
    let root = gucs::extensions_root();
    let (require, exempt) = super::policy_in_effect();
    // Planned as if not installed: the files a new install of that version reads.
    let data = super::EnvData::read(false);
    let mut facts = Facts::default();
    for (name, version) in installed {
        let p = plan::create_extension(&data.env(), &name, Some(&version), false);
        // The image of the extension's own files (control file and scripts), as the utility
        // hook groups them; libraries its functions load have their own rows.
        let image = p
            .files
            .iter()
            .filter(|f| f.extension.as_deref() == Some(name.as_str()) && f.role != Role::Library)
            .find_map(|f| plan::image_of_path(&f.path, &root));
        let Some(image) = image else {
            out.push((
                "extension".into(),
                name.clone(),
                Some(name),
                None,
                None,
                "allowed".into(),
                None,
                None,
                None,
            ));
            continue;
        };
        let exempted = policy::is_exempt(&exempt, Some(&name), &image);
        let mut failures = Vec::new();
        if !exempted {
            failures = facts.image_failures(&image, &require);
            if require.contains(&Condition::Compatible)
                && let Some(f) = facts.extension_failure(&name, std::slice::from_ref(&name))
            {
                failures.push(f);
            }
        }
        let action = policy::decide(policy::Mode::On, exempted, &failures);
        let r = (!failures.is_empty()).then(|| {
            policy::refusal(
                &Subject::Extension {
                    name: &name,
                    required_by: None,
                },
                &image,
                &failures,
                &policy::exempt_entry(Some(&name), &image),
            )
        });
        let (decision, failed, detail, hint) = row_decision(action, r);
        out.push((
            "extension".into(),
            name.clone(),
            Some(name),
            None,
            Some(image),
            decision,
            failed,
            detail,
            hint,
        ));
    }
}

fn function_rows(out: &mut Vec<Row>) {
    // Every C-language function (ClanguageId = 13), with the extension it belongs to.
    let functions: Vec<(pg_sys::Oid, String, String, Option<String>)> = Spi::connect(|c| {
        let mut v = Vec::new();
        for r in c.select(
            "SELECT p.oid, p.oid::pg_catalog.regprocedure::pg_catalog.text, p.probin, e.extname::pg_catalog.text \
               FROM pg_catalog.pg_proc p \
               LEFT JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass \
                    AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) 'e' \
               LEFT JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid \
              WHERE p.prolang OPERATOR(pg_catalog.=) 13 AND p.probin IS NOT NULL ORDER BY 2",
            None,
            &[],
        )? {
            if let (Some(oid), Some(name), Some(probin)) =
                (r.get::<pg_sys::Oid>(1)?, r.get::<String>(2)?, r.get::<String>(3)?)
            {
                v.push((oid, name, probin, r.get::<String>(4)?));
            }
        }
        Ok::<_, pgrx::spi::Error>(v)
    })
    .or_raise("read", "pg_proc");
    let (_, exempt) = super::policy_in_effect();
    for (_oid, name, probin, extension) in functions {
        let j = load::decision_now(&probin);
        let Some(image) = j.image.clone() else { continue };
        let path = j.path.clone().unwrap_or_else(|| probin.clone());
        let exempted = !j.failures.is_empty() && policy::is_exempt(&exempt, extension.as_deref(), &image);
        let action = policy::decide(policy::Mode::On, exempted, &j.failures);
        let r = (!j.failures.is_empty()).then(|| {
            policy::refusal(
                &Subject::Function {
                    path: &path,
                    function: &name,
                },
                &image,
                &j.failures,
                &policy::exempt_entry(extension.as_deref(), &image),
            )
        });
        let (decision, failed, detail, hint) = row_decision(action, r);
        out.push((
            "function".into(),
            name,
            extension,
            Some(path),
            Some(image),
            decision,
            failed,
            detail,
            hint,
        ));
    }
}

/// What `pgext.enforce = on` would refuse in this database now: every installed extension and
/// every C function whose library comes from an image.
#[allow(clippy::type_complexity)] // pgrx needs the row type spelled out inline
#[pg_extern(volatile, parallel_unsafe)]
fn enforcement_preview() -> TableIterator<
    'static,
    (
        name!(kind, String),
        name!(object, String),
        name!(extension, Option<String>),
        name!(library, Option<String>),
        name!(image, Option<String>),
        name!(decision, String),
        name!(failed, Option<String>),
        name!(detail, Option<String>),
        name!(hint, Option<String>),
    ),
> {
    super::warn_if_unenforced();
    let mut out = Vec::new();
    extension_rows(&mut out);
    function_rows(&mut out);
    TableIterator::new(out)
}
