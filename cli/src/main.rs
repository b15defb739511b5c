//! `pgext-check`: judges extension images against a PostgreSQL server that is not running here —
//! a server image (a reference, fetched and unpacked; or its unpacked root file system) or an
//! installation directory — with the engine behind `pgext.mounted_extensions`. For extension
//! publishers' CI and for a major upgrade's pre-flight.
//!
//! Exit status: 0 when nothing is incompatible, 1 when something is (or an image is missing),
//! 2 when the command line, the server or an image reference is unusable, 130 after SIGINT or
//! SIGTERM.

mod fetch;
mod upgrade;

use std::process::ExitCode;

use clap::Parser;
use pgext_core::preflight::{self, ExtensionVerdict, Preflight};
use pgext_core::problem::{Problem, Severity};
use pgext_core::target::Target;
use pgext_oci::Platform;
use serde_json::{Value, json};

use crate::fetch::{Fetched, Fetcher};

/// Will these extension images work on that PostgreSQL server? Nothing is loaded or run.
#[derive(Debug, Parser)]
#[command(name = "pgext-check", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The target server: an image reference (registry/repo:tag[@digest], docker://…, oci:DIR[:tag],
    /// oci-archive:FILE[:tag]) fetched and unpacked for analysis; an unpacked server image's root
    /// file system; or an installation (a directory with bin/postgres).
    #[arg(long, value_name = "DIR|REF")]
    server: Option<String>,
    /// An extension image as it would be mounted: NAME=DIR or NAME=REF, or DIR / REF alone (named
    /// after its last component). DIR holds share/extension, lib and maybe system. Repeat for
    /// each image.
    #[arg(long = "image", value_name = "NAME=DIR|REF")]
    images: Vec<String>,
    /// The target's shared_preload_libraries (comma-separated), for preload-only libraries.
    #[arg(long, value_name = "LIBS", default_value = "")]
    preload: String,
    /// Also judge the target's own extensions ($system).
    #[arg(long)]
    include_system: bool,
    /// Print a JSON array, one object per extension, instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    fetch: fetch::FetchArgs,
}

/// Subcommands beside the default pre-flight.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Will this major upgrade work (CloudNativePG's pg_upgrade Job), and what must run after it?
    Upgrade(upgrade::UpgradeArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Upgrade(u)) = args.command {
        return upgrade::main(u);
    }
    let Some(server_arg) = args.server.as_deref() else {
        eprintln!("pgext-check: --server is required");
        return ExitCode::from(2);
    };
    if args.images.is_empty() && !args.include_system {
        eprintln!("pgext-check: nothing to judge: give --image (or --include-system)");
        return ExitCode::from(2);
    }
    let mut fetcher = match Fetcher::new(&args.fetch) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pgext-check: {e}");
            return ExitCode::from(2);
        }
    };
    // The server first: its architecture picks the extension images' platform.
    let server = match fetcher.server(server_arg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pgext-check: {e}");
            return ExitCode::from(if fetcher.cancelled() { 130 } else { 2 });
        }
    };
    let target = match Target::open(&server.dir) {
        Ok(t) => t,
        Err(e) => {
            match &server.reference {
                // The unpacked directory is gone when this is read: name the image instead.
                Some(r) => eprintln!(
                    "pgext-check: server image {r}: {}",
                    e.to_string().replace(&server.dir.display().to_string(), "<image root>")
                ),
                None => eprintln!("pgext-check: {e}"),
            }
            return ExitCode::from(2);
        }
    };
    let platform = args
        .fetch
        .platform
        .clone()
        .unwrap_or_else(|| Platform::linux(target.host.machine_name()));
    let mut images = Vec::with_capacity(args.images.len());
    let mut fetched: Vec<Fetched> = vec![server];
    for arg in &args.images {
        match fetcher.image(arg, &platform) {
            Ok((dir, f)) => {
                images.push(dir);
                fetched.extend(f);
            }
            Err(e) => {
                eprintln!("pgext-check: {e}");
                return ExitCode::from(if fetcher.cancelled() { 130 } else { 2 });
            }
        }
    }
    let fetched: Vec<Fetched> = fetched.into_iter().filter(|f| f.reference.is_some()).collect();
    let preload: Vec<String> = args
        .preload
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let mut result = match preflight::run(&target, &images, &preload, &fetch::interrupted) {
        Ok(r) => r,
        // The engine's only error is the interrupt.
        Err(e) => {
            eprintln!("pgext-check: {e}");
            return ExitCode::from(130);
        }
    };
    if !args.include_system {
        result.extensions.retain(|e| e.image.is_some());
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json_rows(&result, &fetched)).unwrap_or_default()
        );
    } else {
        print_table(&target, &result, &fetched);
    }
    let unsigned: Vec<&Fetched> = if args.fetch.require_signed {
        fetched.iter().filter(|f| !f.signed_or_unjudged()).collect()
    } else {
        Vec::new()
    };
    for f in &unsigned {
        eprintln!(
            "pgext-check: {} {} is not signed by a trusted signer ({})",
            if f.name.is_some() { "image" } else { "server image" },
            f.reference.as_deref().unwrap_or_default(),
            f.signature.as_ref().map_or("not judged", |v| v.status.as_str())
        );
    }
    let failed = result.extensions.iter().any(|e| e.compatible == Some(false))
        || result.problems.iter().any(|(_, p)| p.severity == Severity::Error)
        || !unsigned.is_empty();
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn problem_json(p: &Problem) -> Value {
    json!({"code": p.code.as_str(), "severity": p.severity.as_str(), "message": p.message})
}

fn codes(problems: &[Problem]) -> Vec<&'static str> {
    pgext_core::problem::distinct_codes(problems)
        .into_iter()
        .map(|c| c.as_str())
        .collect()
}

/// One object per extension: the columns of `mounted_extensions` that a pre-flight can know, and
/// for a fetched image the reference and the manifest digest judged.
fn json_rows(result: &Preflight, fetched: &[Fetched]) -> Value {
    Value::Array(
        result
            .extensions
            .iter()
            .map(|e| {
                let mut problems: Vec<Value> = e.problems.iter().map(problem_json).collect();
                // Composition problems of its image (missing directory, a server that cannot see images).
                problems.extend(
                    result
                        .problems
                        .iter()
                        .filter(|(image, _)| Some(image) == e.image.as_ref())
                        .map(|(_, p)| problem_json(p)),
                );
                let source = fetched.iter().find(|f| f.name.is_some() && f.name == e.image);
                json!({
                    "name": e.name,
                    "image": e.image,
                    "image_reference": source.and_then(|f| f.reference.clone()),
                    "image_digest": source.and_then(|f| f.digest.clone()),
                    "image_signature": source.and_then(|f| f.signature.as_ref()).map(|v| v.status.as_str()),
                    "image_signed_by": source.and_then(|f| f.signature.as_ref()).and_then(|v| v.signed_by.clone()),
                    "default_version": e.default_version,
                    "compatible": e.compatible,
                    "problems": codes(&e.problems),
                    "problem_details": problems,
                    "usable": e.usable,
                    "usable_problems": codes(&e.usable_problems),
                    "usable_problem_details": e.usable_problems.iter().map(problem_json).collect::<Vec<_>>(),
                    "libraries": e.libraries.iter().map(|(path, r)| {
                        let problems: Vec<Problem> = r.problems.iter().map(Problem::folded).collect();
                        json!({
                            "path": path,
                            "loadable": r.loadable,
                            "preload": preload_kind(&r.preload.need()),
                            "pg_major": r.magic.as_ref().map(|m| m.pg_major()),
                            "problems": codes(&problems),
                            "problem_details": problems.iter().map(problem_json).collect::<Vec<_>>(),
                        })
                    }).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// What `_PG_init` does outside `shared_preload_libraries`, as `library_compat.preload` says it.
fn preload_kind(need: &pgext_core::elf::PreloadNeed) -> &'static str {
    use pgext_core::elf::PreloadNeed;
    match need {
        PreloadNeed::None => "none",
        PreloadNeed::Recommended(_) => "recommended",
        PreloadNeed::Required(_) => "required",
        PreloadNeed::Undecided(_) => "undecided",
    }
}

fn verdict_word(e: &ExtensionVerdict) -> &'static str {
    match e.compatible {
        Some(true) => "compatible",
        Some(false) => "INCOMPATIBLE",
        None => "undecided",
    }
}

fn print_table(target: &Target, result: &Preflight, fetched: &[Fetched]) {
    let server = fetched.iter().find(|f| f.name.is_none());
    println!(
        "server: PostgreSQL {} ({}) {}{}",
        target.pg_major(),
        target.host.machine_name(),
        match server {
            Some(f) => format!("from {}", f.describe()),
            None => format!("at {}", target.dir.display()),
        },
        target.os.as_deref().map(|o| format!(", {o}")).unwrap_or_default()
    );
    for f in fetched.iter().filter(|f| f.name.is_some()) {
        println!("image {}: {}", f.name.as_deref().unwrap_or_default(), f.describe());
    }
    for (image, p) in &result.problems {
        let who = if image.is_empty() {
            String::new()
        } else {
            format!("image {image}: ")
        };
        println!("{}: {who}{}", p.severity.as_str(), p.message);
    }
    let rows: Vec<[String; 5]> = result
        .extensions
        .iter()
        .map(|e| {
            let first = e
                .problems
                .iter()
                .find(|p| p.severity == Severity::Error)
                .or(e.problems.first());
            [
                e.image.clone().unwrap_or_else(|| "$system".to_owned()),
                e.name.clone(),
                e.default_version.clone().unwrap_or_default(),
                verdict_word(e).to_owned(),
                first
                    .map(|p| format!("{}: {}", p.code, one_line(&p.message)))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["IMAGE", "EXTENSION", "VERSION", "VERDICT", "FIRST PROBLEM"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    let count = |v: Option<bool>| result.extensions.iter().filter(|e| e.compatible == v).count();
    println!(
        "{} extensions: {} compatible, {} incompatible, {} undecided",
        result.extensions.len(),
        count(Some(true)),
        count(Some(false)),
        count(None)
    );
}

/// The first line of a message, at most 120 characters: the table stays a table.
fn one_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(119).collect::<String>())
    } else {
        line.to_owned()
    }
}
