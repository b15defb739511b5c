//! The SQL surface: one module per group of views and functions.

mod images;
mod inventory;
pub mod paths;
