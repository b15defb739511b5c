//! What ld.so checks once the objects are mapped: every required version defined by the object
//! loaded for its file (`_dl_check_map_versions`), static TLS that fits, and every non-weak
//! undefined symbol bound (PostgreSQL dlopens with `RTLD_NOW`).

use super::LinkMap;
use crate::elf::symtab::{SymbolTable, Wanted};
use crate::problem::{Code, Problem, Severity};

/// Most undefined-symbol problems listed per object; the rest are summarised.
const MAX_SYMBOL_PROBLEMS: usize = 50;

/// `_dl_check_map_versions` for the new objects.
pub(super) fn check_versions(map: &LinkMap, first_new: usize, problems: &mut Vec<Problem>) {
    for loaded in &map.objects[first_new..] {
        let object = &loaded.facts;
        for need in &object.version_needs {
            let Some(&j) = map.by_name.get(&need.file) else {
                continue;
            };
            let provider = &map.objects[j].facts;
            if !provider.has_verdef {
                problems.push(
                    Problem::warning(
                        Code::MissingSymbolVersion,
                        format!(
                            "{}: no version information available (required by {})",
                            provider.path.display(),
                            object.path.display()
                        ),
                    )
                    .with_subject(need.file.clone()),
                );
                continue;
            }
            for version in &need.versions {
                if provider.version_defs.contains(&version.name) {
                    continue;
                }
                let severity = if version.weak {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                let mut problem = Problem::new(
                    Code::MissingSymbolVersion,
                    severity,
                    format!(
                        "{}: version `{}' not found (required by {})",
                        provider.path.display(),
                        version.name,
                        object.path.display()
                    ),
                )
                .with_subject(version.name.clone());
                if let Some((family, _)) = split_version(&version.name) {
                    let newest_needed = newest(need.versions.iter().map(|v| v.name.as_str()), family);
                    let newest_there = newest(provider.version_defs.iter().map(String::as_str), family);
                    problem.detail = Some(match (newest_needed, newest_there) {
                        (Some(n), Some(t)) => {
                            format!(
                                "{} needs {n} from {}; {} provides up to {t}.",
                                object.path.display(),
                                need.file,
                                provider.path.display()
                            )
                        }
                        (Some(n), None) => format!(
                            "{} needs {n}; {} defines no {family} versions.",
                            object.path.display(),
                            provider.path.display()
                        ),
                        _ => format!("needed from {}", need.file),
                    });
                }
                problems.push(problem);
            }
        }
    }
}

/// glibc's default spare static TLS for `dlopen`ed objects (`glibc.rtld.optional_static_tls`).
pub(super) const OPTIONAL_STATIC_TLS: u64 = 512;

/// Objects loaded by `dlopen` that have their own TLS and use the initial-exec model
/// (`DF_STATIC_TLS`) must fit into the spare static TLS space glibc reserved at startup. Whether
/// they do depends on what was loaded before, so this is a warning (above the default reserve) or
/// information (within it). Objects with the flag but no TLS segment of their own only reach other
/// objects' TLS, which needs no space.
pub(super) fn check_static_tls(map: &LinkMap, first_new: usize, problems: &mut Vec<Problem>) {
    for loaded in &map.objects[first_new..] {
        let Some(size) = loaded.facts.static_tls.filter(|&s| s > 0) else {
            continue;
        };
        let severity = if size > OPTIONAL_STATIC_TLS {
            Severity::Warning
        } else {
            Severity::Info
        };
        problems.push(
            Problem::new(
                Code::StaticTls,
                severity,
                format!(
                    "{}: may fail with \"cannot allocate memory in static TLS block\"",
                    loaded.facts.path.display()
                ),
            )
            .with_detail(format!(
                "The library uses initial-exec TLS (DF_STATIC_TLS) for a {size}-byte TLS segment; dlopen must fit it \
                 into glibc's spare static TLS ({OPTIONAL_STATIC_TLS} bytes by default, shared with other libraries)."
            ))
            .with_hint("Raise glibc.rtld.optional_static_tls through GLIBC_TUNABLES in the server's environment."),
        );
    }
}

/// `GLIBC_2.38` → (`GLIBC`, [2, 38]).
pub(super) fn split_version(name: &str) -> Option<(&str, Vec<u64>)> {
    let (family, number) = name.rsplit_once('_')?;
    let parts: Option<Vec<u64>> = number.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty()).map(|p| (family, p))
}

/// The highest version of a family (`GLIBC`) among names.
pub(super) fn newest<'a>(names: impl Iterator<Item = &'a str>, family: &str) -> Option<&'a str> {
    names
        .filter_map(|n| split_version(n).filter(|(f, _)| *f == family).map(|(_, v)| (v, n)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, n)| n)
}

/// Every required import of the new objects must be bound to a definition in some loaded
/// object, searched through each object's hash table like ld.so does.
///
/// ld.so searches the scope in load order because the first definition wins; whether a
/// reference can be bound at all does not depend on the order, so the likely providers are tried
/// first: the file its version is required from (`libc.so.6` for `GLIBC_2.34`), then the
/// importing object's own `DT_NEEDED` objects, then the whole scope.
pub(super) fn check_symbols(map: &LinkMap, first_new: usize, problems: &mut Vec<Problem>) {
    let scope: Vec<&SymbolTable> = map.objects.iter().map(|o| &o.facts.symbols).collect();
    // Every object of the closure binds in the same scope, so each (name, version) is searched
    // once: libc's and libstdc++'s functions are imported by most objects.
    for loaded in &map.objects[first_new..] {
        let object = &loaded.facts;
        let needed: Vec<usize> = object
            .needed
            .iter()
            .filter_map(|name| map.by_name.get(name).copied())
            .collect();
        let mut missing = 0usize;
        for &index in object.symbols.imports() {
            let Some((name, version, version_file)) = object.symbols.reference(index) else {
                continue;
            };
            let found = {
                let wanted = Wanted::new(name, version);
                let from_file = version_file.and_then(|f| map.by_name.get(f).copied());
                from_file
                    .iter()
                    .chain(&needed)
                    .any(|&j| scope.get(j).is_some_and(|t| t.defines(&wanted)))
                    || scope.iter().any(|t| t.defines(&wanted))
            };
            if found {
                continue;
            }
            missing += 1;
            if missing > MAX_SYMBOL_PROBLEMS {
                continue;
            }
            let name = String::from_utf8_lossy(name);
            let message = match version {
                Some(v) => format!("{}: undefined symbol: {name}, version {v}", object.path.display()),
                None => format!("{}: undefined symbol: {name}", object.path.display()),
            };
            problems.push(Problem::error(Code::UndefinedSymbol, message).with_subject(name.into_owned()));
        }
        if missing > MAX_SYMBOL_PROBLEMS {
            problems.push(
                Problem::error(
                    Code::UndefinedSymbol,
                    format!(
                        "{}: {} more undefined symbols",
                        object.path.display(),
                        missing - MAX_SYMBOL_PROBLEMS
                    ),
                )
                .with_subject(object.path.to_string_lossy().into_owned()),
            );
        }
    }
}
