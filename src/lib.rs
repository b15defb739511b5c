//! pgext: inventory, integrity and compatibility of extension images, in SQL.
use pgrx::prelude::*;

pgrx::pg_module_magic!(name, version);
