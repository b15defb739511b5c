//! The SQL surface: one module per group of views and functions.

pub(crate) mod caches;
pub(crate) mod catalog;
pub(crate) mod compat;
pub(crate) mod health;
pub(crate) mod images;
pub(crate) mod inventory;
pub mod paths;
pub(crate) mod preflight;
pub(crate) mod upgrade;
