//! Static analysis of shared libraries: will PostgreSQL 18 be able to load this `.so`?
//!
//! Answered without `dlopen` (which runs the library's constructors): the ELF file is parsed, the
//! dynamic loader's search and symbol binding are simulated, and the magic block is decoded from the
//! code of `Pg_magic_func`. Every file is treated as hostile input: reads are positional and capped
//! per file ([`ReadLimits`]), counts and chains are bounded, and nothing panics on bad data.
//!
//! Entry points:
//! - [`Analyzer::analyze`] / [`analyze_library`]: one library end to end → [`LibraryReport`].
//! - [`inspect_bytes`]: header, dynamic section and magic block of bytes in memory, no resolution.
//! - [`read_magic`], [`read_dynamic_info`]: one file's magic block or dynamic-linking view.
//! - [`LdCache`], [`HostAbi`], [`SearchConfig`], [`check_magic`] for the pieces.
//!
//! Typical use in a backend: `Analyzer::new(SearchConfig::for_this_process(), server_magic)`, built
//! once per backend (it caches parsed dependencies by path, inode, size and mtime), then
//! `analyze(path)` per library. [`ServerMagic`] should come from the server's own
//! `PG_MODULE_MAGIC_DATA` values ([`ServerMagic::pg18`] is a community build's).
//!
//! Modules by concern: [`header`] (class, machine, host), [`dynamic`] (needed, paths, versions,
//! symbols), [`magic`] (the block and the server's comparison), `insn` (return-value decoding),
//! [`preload`] (does `_PG_init` refuse to load outside `shared_preload_libraries`),
//! [`ldcache`], [`resolve`] (search and binding), `symtab` (hash-table symbol lookup), [`report`],
//! [`reader`] (bounded I/O), `file` (section and segment tables). Findings are the crate's one
//! [`Problem`], with PostgreSQL-style detail and hint where the server has them.

pub mod dynamic;
mod file;
pub mod header;
mod insn;
pub mod ldcache;
pub mod magic;
pub mod preload;
pub mod reader;
pub mod report;
pub mod resolve;
mod symtab;

#[cfg(test)]
mod tests;

pub use crate::problem::{Code, Problem, Severity};
pub use dynamic::{
    Binding, DynSymbol, DynamicInfo, NeededVersion, SymbolKind, VersionDef, VersionNeed, read_dynamic_info,
};
pub use file::ElfError;
pub use header::{ByteOrder, ElfClass, ElfHeader, HeaderError, HeaderMismatch, HostAbi};
pub use ldcache::{CacheEntry, CacheFormat, LdCache, LdCacheError};
pub use magic::{MagicBlock, MagicLayout, MagicOutcome, MagicSource, ServerMagic, check_magic, read_magic};
pub use preload::{PreloadFacts, PreloadNeed, Refusal};
pub use reader::{ReadError, ReadLimits};
pub use report::{Analyzer, LibraryReport, analyze_library, inspect_bytes};
pub use resolve::{
    Dependency, FoundVia, Loader, LoaderTimings, SearchConfig, default_system_dirs, expand_dst, multiarch_triplet,
};
