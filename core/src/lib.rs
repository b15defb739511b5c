//! pgext-core: everything pgext knows that does not need a running server.
//!
//! The extension crate (`pgext`) is thin SQL glue over these modules. Nothing here links
//! against PostgreSQL, so every module is tested with plain `cargo test` in seconds.

pub mod codes;
pub mod compat;
pub mod conditions;
pub mod control;
pub mod elf;
pub mod fsinfo;
pub mod hash;
pub mod health;
pub mod inventory;
pub mod metadata;
pub mod mounts;
pub mod paths;
pub mod pins;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod problem;
pub mod scripts;
pub mod snapshot;
pub mod status;
pub mod target;
pub mod tree;

#[cfg(test)]
mod testing;
