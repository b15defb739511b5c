//! `pgext-check upgrade`: will this major upgrade work, and what must run afterwards?
//!
//! Reads the old cluster with `pgext_core::upgrade::client` (the `postgres` crate, in READ ONLY
//! transactions). The judgement is `pgext_core::upgrade`'s; update scripts are
//! parsed with `pg_query` (libpg_query: PostgreSQL 18.6's own grammar, `raw_parser()`, as a
//! library).

use std::process::ExitCode;

use pgext_core::preflight::ImageDir;
use pgext_core::target::Target;
use pgext_core::upgrade::{self, JobLayout, LdOrder, SyntaxError};
use pgext_oci::Platform;

use crate::fetch::{self, Fetcher};

/// Judge a major upgrade as CloudNativePG's upgrade Job runs it.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// The old cluster, as a libpq connection string (key=value or postgresql:// URI). Only read,
    /// in read-only transactions; every database that allows connections is read.
    #[arg(long, value_name = "CONNINFO")]
    from: String,
    /// The new server (image reference, unpacked root file system, or installation).
    #[arg(long, value_name = "DIR|REF")]
    server: String,
    /// The old server's installation or image, to judge its side of the Job (optional).
    #[arg(long, value_name = "DIR|REF")]
    old_server: Option<String>,
    /// A new extension image (mounted at /new-extensions/NAME). Repeat.
    #[arg(long = "image", value_name = "NAME=DIR|REF")]
    images: Vec<String>,
    /// An old extension image (mounted at /extensions/NAME). Repeat.
    #[arg(long = "old-image", value_name = "NAME=DIR|REF")]
    old_images: Vec<String>,
    /// The order of the two sets on LD_LIBRARY_PATH: old-first (CloudNativePG 1.30.0) or
    /// new-first (cloudnative-pg PR 11286).
    #[arg(long, value_name = "ORDER", default_value = "old-first")]
    ld_library_path_order: LdOrder,
    /// The new cluster's shared_preload_libraries (comma-separated).
    #[arg(long, value_name = "LIBS", default_value = "")]
    preload: String,
    /// Print JSON instead of a report.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fetch: fetch::FetchArgs,
}

/// PostgreSQL 18's grammar through libpg_query.
struct PgQuery;

// libpg_query's C entry point, linked into this binary by the pg_query crate, whose own `parse`
// drops the error's cursor position. Layouts from libpg_query's pg_query.h (18-6.x).
#[repr(C)]
struct PgQueryError {
    message: *mut std::ffi::c_char,
    funcname: *mut std::ffi::c_char,
    filename: *mut std::ffi::c_char,
    lineno: std::ffi::c_int,
    cursorpos: std::ffi::c_int,
    context: *mut std::ffi::c_char,
}

#[repr(C)]
struct PgQueryParseResult {
    parse_tree: *mut std::ffi::c_char,
    stderr_buffer: *mut std::ffi::c_char,
    error: *mut PgQueryError,
}

unsafe extern "C" {
    fn pg_query_parse(input: *const std::ffi::c_char) -> PgQueryParseResult;
    fn pg_query_free_parse_result(result: PgQueryParseResult);
}

impl upgrade::ScriptParser for PgQuery {
    fn parse(&self, sql: &str) -> Result<(), SyntaxError> {
        // Keep pg_query's own initialisation on the crate's path (it sets up its memory context
        // per thread on first use); its answer decides whether to look closer.
        if pg_query::parse(sql, 0).is_ok() {
            return Ok(());
        }
        let Ok(text) = std::ffi::CString::new(sql) else {
            return Err(SyntaxError {
                message: "the script holds a NUL byte".into(),
                line: None,
            });
        };
        // SAFETY: a NUL-terminated input; the result is read before it is freed, once.
        let (message, cursor) = unsafe {
            let r = pg_query_parse(text.as_ptr());
            let out = if r.error.is_null() {
                None
            } else {
                let e = &*r.error;
                Some((
                    std::ffi::CStr::from_ptr(e.message).to_string_lossy().into_owned(),
                    usize::try_from(e.cursorpos).unwrap_or(0),
                ))
            };
            pg_query_free_parse_result(r);
            out.unwrap_or_else(|| ("the parser refused the script".into(), 0))
        };
        Err(SyntaxError {
            message,
            line: upgrade::line_of_cursor(sql, cursor),
        })
    }
}

/// Runs the subcommand. Exit status: 0 when everything would work, 1 when not, 2 for unusable
/// input (arguments, server, images, the old cluster unreachable), 130 after an interrupt.
pub fn main(args: UpgradeArgs) -> ExitCode {
    let fail = |e: String, code: u8| {
        eprintln!("pgext-check upgrade: {e}");
        ExitCode::from(code)
    };
    let catalog = match args
        .from
        .parse()
        .map_err(|e| format!("--from: {e}"))
        .and_then(|c| upgrade::client::read_catalog(&c))
    {
        Ok(c) => c,
        Err(e) => return fail(e, 2),
    };
    let mut fetcher = match Fetcher::new(&args.fetch) {
        Ok(f) => f,
        Err(e) => return fail(e, 2),
    };
    let open = |fetcher: &mut Fetcher, arg: &str| -> Result<(Target, fetch::Fetched), String> {
        let f = fetcher.server(arg)?;
        let t = Target::open(&f.dir).map_err(|e| e.to_string())?;
        Ok((t, f))
    };
    let (target, _server) = match open(&mut fetcher, &args.server) {
        Ok(x) => x,
        Err(e) => return fail(e, if fetcher.cancelled() { 130 } else { 2 }),
    };
    let old = match args.old_server.as_deref().map(|a| open(&mut fetcher, a)).transpose() {
        Ok(x) => x,
        Err(e) => return fail(e, if fetcher.cancelled() { 130 } else { 2 }),
    };
    let platform = args
        .fetch
        .platform
        .clone()
        .unwrap_or_else(|| Platform::linux(target.host.machine_name()));
    let mut sets: [Vec<ImageDir>; 2] = [Vec::new(), Vec::new()];
    let mut keep = Vec::new();
    for (i, list) in [&args.images, &args.old_images].into_iter().enumerate() {
        for arg in list {
            match fetcher.image(arg, &platform) {
                Ok((dir, f)) => {
                    sets[i].push(dir);
                    keep.extend(f);
                }
                Err(e) => return fail(e, if fetcher.cancelled() { 130 } else { 2 }),
            }
        }
    }
    let [new, old_images] = sets;
    let layout = JobLayout {
        old: old_images,
        new,
        order: args.ld_library_path_order,
    };
    let preload: Vec<String> = args
        .preload
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let inputs = upgrade::Inputs {
        target: &target,
        old_target: old.as_ref().map(|(t, _)| t),
        layout: &layout,
        new_preload: &preload,
        catalog: &catalog,
        parser: &PgQuery,
    };
    let report = match upgrade::run(&inputs, &fetch::interrupted) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string(), 130),
    };
    let value = upgrade::client::report_json(&report);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print_report(&target, &report);
    }
    if report.compatible() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_report(target: &Target, r: &upgrade::UpgradeReport) {
    println!(
        "upgrade: PostgreSQL {} -> {}, LD_LIBRARY_PATH {} ({})",
        r.old_major,
        target.pg_major(),
        r.order.as_str(),
        r.ld_library_path.join(":")
    );
    for (image, p) in &r.problems {
        println!("{}: image {image}: {}", p.severity.as_str(), p.message);
    }
    println!("libraries pg_upgrade will LOAD in the new server:");
    for l in &r.libraries {
        println!(
            "  {:<40} {}{}",
            l.library,
            if l.loadable { "loads" } else { "FAILS" },
            l.resolved.as_deref().map(|p| format!(" ({p})")).unwrap_or_default()
        );
        for p in l.problems.iter().chain(l.old_server.iter().flat_map(|o| &o.problems)) {
            println!("      {}: {}: {}", p.severity.as_str(), p.code, p.message);
        }
    }
    for d in &r.databases {
        println!("database {}:", d.name);
        for e in &d.extensions {
            println!(
                "  {:<24} {} -> {}  {}",
                e.name,
                e.installed_version,
                e.target_version.as_deref().unwrap_or("?"),
                if e.compatible { "ok" } else { "PROBLEM" }
            );
            for p in &e.problems {
                println!("      {}: {}: {}", p.severity.as_str(), p.code, p.message);
            }
        }
        let plan = d.statements();
        if !plan.is_empty() {
            println!("  after the upgrade, in {}:", d.name);
            for s in plan {
                println!("    {s}");
            }
        }
    }
    println!(
        "verdict: {}",
        if r.compatible() {
            "the upgrade would work"
        } else {
            "the upgrade would FAIL (see above)"
        }
    );
}
