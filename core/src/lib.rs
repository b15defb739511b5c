//! pgext-core: everything pgext knows that does not need a running server.
//!
//! The extension crate (`pgext`) is thin SQL glue over these modules. Nothing here links
//! against PostgreSQL, so every module is tested with plain `cargo test` in seconds.
//!
//! The modules are grouped by the stage of the pipeline a verdict goes through, in order, and a
//! stage uses only the stages listed above it (tests and doc links aside). Module paths stay flat
//! (`pgext_core::control`, not `pgext_core::parse::control`): the glue, the CLI, the OCI crate
//! and the fuzz targets name them.

// Vocabulary shared by every stage: the codes SQL can show, and the shape of a problem.
pub mod codes;
pub mod problem;

// 1. Find: where PostgreSQL looks, what is mounted there, and what each file is.
pub mod fsinfo;
pub mod mounts;
pub mod paths;

// 2. Parse: control files and scripts, read as PostgreSQL 18 reads them.
pub mod control;
pub mod scripts;

// Trees and digests, beside the pipeline: file hashing (cached by file identity) and the
// canonical tree digest that proves a mount is its OCI image.
pub mod hash;
pub mod tree;

// 3. Inventory: the images, extensions and libraries the server would see, and what a new
//    session can reuse of the work an earlier process did.
pub mod inventory;
pub mod snapshot;

// 4. Needs: what each library needs to load (ELF analysis, the magic block, the loader's rules).
pub mod elf;

// 5. Verdicts: will it load and work, here or on another server; what a statement will load.
pub mod compat;
pub mod plan;
pub mod preflight;
pub mod target;
pub mod upgrade;

// Provenance: pins, what an image says it was built for.
pub mod catalog;
pub mod metadata;
pub mod pins;

// Health: the worker's decisions from all of the above.
pub mod conditions;
pub mod health;
pub mod status;

// Policy: what the site requires, and the enforcement decision from all of the above.
pub mod policy;

#[cfg(test)]
mod testing;
