//! The SQL surface: one module per group of views and functions.

mod paths;
