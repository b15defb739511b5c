//! The one shape every finding takes: a stable code, a severity, a message (and, from the library
//! analysis, PostgreSQL-style detail and hint, and what it is about).

use std::fmt;

pub use crate::codes::Code;

/// How much a finding matters. Its SQL name is the variant in lower case.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr, strum::Display, strum::EnumString,
)]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing fails.
    Info,
    /// Something is off, but what PostgreSQL does still works (or works only partly).
    Warning,
    /// PostgreSQL will fail (or already fails) because of it.
    Error,
}

impl Severity {
    /// Stable name used in SQL output.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One finding about one row (an image, an extension, a library), or of the analysis of one
/// library, where `detail`, `hint` and `subject` may be set too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable machine-readable code, e.g. `library_not_found`.
    pub code: Code,
    /// How much it matters.
    pub severity: Severity,
    /// What it means, for a person: one line, worded like the server or ld.so would word it where
    /// they have a message.
    pub message: String,
    /// Further detail (PostgreSQL's `errdetail` where it has one).
    pub detail: Option<String>,
    /// A hint (PostgreSQL's `errhint` where it has one).
    pub hint: Option<String>,
    /// What the finding is about: a soname, symbol, version or magic-block field name.
    pub subject: Option<String>,
}

impl Problem {
    /// A finding with only a message.
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity,
            message: message.into(),
            detail: None,
            hint: None,
            subject: None,
        }
    }

    /// A finding that makes PostgreSQL fail.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// A finding that does not make PostgreSQL fail by itself.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    /// A finding worth knowing.
    pub fn info(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Info, message)
    }

    /// Sets the detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The finding as one line, for the views' problem lists and `check_extension`: detail and
    /// hint appended to the message the way psql prints them, the subject dropped (the message
    /// names it).
    pub fn folded(&self) -> Problem {
        let mut message = self.message.clone();
        if let Some(d) = &self.detail {
            message.push_str(&format!(" DETAIL: {d}"));
        }
        if let Some(h) = &self.hint {
            message.push_str(&format!(" HINT: {h}"));
        }
        Problem::new(self.code, self.severity, message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// `true` when no problem is an error.
pub fn none_fatal(problems: &[Problem]) -> bool {
    problems.iter().all(|p| p.severity != Severity::Error)
}

/// The distinct codes of `problems`, each once: errors first, then warnings, then infos, each
/// group in order of first appearance. Per-item messages belong in the details, not here.
pub fn distinct_codes(problems: &[Problem]) -> Vec<Code> {
    let mut out: Vec<(Severity, Code)> = Vec::new();
    for p in problems {
        match out.iter_mut().find(|(_, c)| *c == p.code) {
            Some(entry) => entry.0 = entry.0.max(p.severity),
            None => out.push((p.severity, p.code)),
        }
    }
    // Stable: equal severities keep their order of appearance.
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_codes_once_each_errors_first() {
        let ps = vec![
            Problem::warning(Code::NotOnPath, "a"),
            Problem::error(Code::UndefinedSymbol, "x"),
            Problem::error(Code::UndefinedSymbol, "y"),
            Problem::info(Code::UnusedImage, "z"),
            Problem::warning(Code::NotOnPath, "b"),
            Problem::error(Code::MissingLibrary, "m"),
            Problem::warning(Code::UndefinedSymbol, "off the path"),
        ];
        assert_eq!(
            distinct_codes(&ps),
            vec![
                Code::UndefinedSymbol,
                Code::MissingLibrary,
                Code::NotOnPath,
                Code::UnusedImage
            ]
        );
        assert!(distinct_codes(&[]).is_empty());
    }

    #[test]
    fn folded_is_one_line_as_psql_prints_it() {
        let p = Problem::error(
            Code::MissingMagicBlock,
            "incompatible library \"x.so\": missing magic block",
        )
        .with_detail("d")
        .with_hint("Extension libraries are required to use the PG_MODULE_MAGIC macro.")
        .with_subject("x.so");
        let f = p.folded();
        assert_eq!(
            f,
            Problem::error(
                Code::MissingMagicBlock,
                "incompatible library \"x.so\": missing magic block DETAIL: d HINT: Extension libraries are \
                 required to use the PG_MODULE_MAGIC macro."
            )
        );
        // Without detail or hint only the subject goes.
        let plain = Problem::warning(Code::NotOnPath, "m").with_subject("s");
        assert_eq!(plain.folded(), Problem::warning(Code::NotOnPath, "m"));
        assert_eq!(
            Problem::info(Code::UnusedImage, "m").with_hint("h").folded().message,
            "m HINT: h"
        );
    }
}

/// The names SQL shows, scripts match and tables store never change meaning: each enum's mapping
/// (a strum derive) is pinned here, name by name.
#[cfg(test)]
mod sql_names {
    #[test]
    fn are_stable() {
        let pinned = [
            (crate::pins::PinSource::Setting.as_str(), "setting"),
            (crate::pins::PinSource::Table.as_str(), "table"),
            (crate::paths::PathKind::Control.as_str(), "control"),
            (crate::paths::PathKind::Library.as_str(), "library"),
            (crate::paths::ElementProblem::Empty.code().as_str(), "empty"),
            (crate::paths::ElementProblem::Relative.code().as_str(), "relative"),
            (
                crate::paths::ElementProblem::InvalidMacro.code().as_str(),
                "invalid_macro",
            ),
            (crate::paths::ElementProblem::Duplicate.code().as_str(), "duplicate"),
            (crate::control::InstallPrivilege::AnyUser.as_str(), "any_user"),
            (
                crate::control::InstallPrivilege::DatabaseCreate.as_str(),
                "database_create",
            ),
            (crate::control::InstallPrivilege::Superuser.as_str(), "superuser"),
            (crate::elf::magic::MagicSource::Decoded.as_str(), "decoded"),
            (crate::elf::magic::MagicSource::Scanned.as_str(), "scanned"),
            (crate::elf::MagicLayout::Pg82.as_str(), "pg8.2"),
            (crate::elf::MagicLayout::Pg84To12.as_str(), "pg8.4-12"),
            (crate::elf::MagicLayout::Pg13To14.as_str(), "pg13-14"),
            (crate::elf::MagicLayout::Pg15To17.as_str(), "pg15-17"),
            (crate::elf::MagicLayout::Pg18.as_str(), "pg18"),
            (crate::elf::MagicLayout::Unknown.as_str(), "unknown"),
            (crate::elf::ElfClass::Elf32.as_str(), "ELFCLASS32"),
            (crate::elf::ElfClass::Elf64.as_str(), "ELFCLASS64"),
            (crate::elf::ByteOrder::Little.as_str(), "little-endian"),
            (crate::elf::ByteOrder::Big.as_str(), "big-endian"),
            (crate::plan::Role::Control.as_str(), "control file"),
            (crate::plan::Role::Script.as_str(), "script"),
            (crate::plan::Role::Library.as_str(), "library"),
            (crate::scripts::VersionNameProblem::Empty.code(), "empty"),
            (crate::scripts::VersionNameProblem::DoubleDash.code(), "double_dash"),
            (crate::scripts::VersionNameProblem::DashAtEdge.code(), "dash_at_edge"),
            (
                crate::scripts::VersionNameProblem::DirectorySeparator.code(),
                "directory_separator",
            ),
            (crate::scripts::ReferenceKind::Function.as_str(), "function"),
            (crate::scripts::ReferenceKind::Load.as_str(), "load"),
            (crate::tree::EntryKind::File.as_str(), "file"),
            (crate::tree::EntryKind::Dir.as_str(), "dir"),
            (crate::tree::EntryKind::Symlink.as_str(), "symlink"),
            (crate::tree::EntryKind::Other.as_str(), "other"),
            (crate::policy::Condition::Pinned.as_str(), "pinned"),
            (crate::policy::Condition::Verified.as_str(), "verified"),
            (crate::policy::Condition::Compatible.as_str(), "compatible"),
            (crate::policy::Condition::Signed.as_str(), "signed"),
            (crate::policy::Condition::Catalog.as_str(), "catalog"),
            (crate::codes::Code::NotElf.as_str(), "not_elf"),
            (crate::codes::Code::Truncated.as_str(), "truncated"),
            (crate::codes::Code::WrongClass.as_str(), "wrong_class"),
            (crate::codes::Code::WrongMachine.as_str(), "wrong_machine"),
            (crate::codes::Code::NotSharedObject.as_str(), "not_shared_object"),
            (crate::codes::Code::MissingMagicBlock.as_str(), "missing_magic_block"),
            (
                crate::codes::Code::UnreadableMagicBlock.as_str(),
                "unreadable_magic_block",
            ),
            (crate::codes::Code::MagicMismatch.as_str(), "magic_mismatch"),
            (crate::codes::Code::PgVersionMismatch.as_str(), "pg_version_mismatch"),
            (crate::codes::Code::MissingLibrary.as_str(), "missing_library"),
            (
                crate::codes::Code::MissingSymbolVersion.as_str(),
                "missing_symbol_version",
            ),
            (crate::codes::Code::UndefinedSymbol.as_str(), "undefined_symbol"),
            (crate::codes::Code::Unreadable.as_str(), "unreadable"),
            (crate::codes::Code::StaticTls.as_str(), "static_tls"),
            (crate::tree::ProblemCode::Unreadable.as_str(), "unreadable"),
            (crate::tree::ProblemCode::NonUtf8Name.as_str(), "non_utf8_name"),
            (crate::tree::ProblemCode::DanglingSymlink.as_str(), "dangling_symlink"),
            (crate::tree::ProblemCode::SymlinkLoop.as_str(), "symlink_loop"),
            (crate::tree::ProblemCode::SpecialFile.as_str(), "special_file"),
            (crate::tree::ProblemCode::Vanished.as_str(), "vanished"),
            (crate::tree::ProblemCode::Changed.as_str(), "changed"),
            (crate::tree::ProblemCode::IoError.as_str(), "io_error"),
            (crate::fsinfo::DirProblem::Missing.code().as_str(), "missing"),
            (
                crate::fsinfo::DirProblem::NotADirectory.code().as_str(),
                "not_a_directory",
            ),
            (crate::fsinfo::DirProblem::Unreadable.code().as_str(), "unreadable"),
        ];
        for (got, want) in pinned {
            assert_eq!(got, want);
        }
    }
}
