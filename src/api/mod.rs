//! The SQL surface: one module per group of views and functions.

mod inventory;
pub mod paths;
