//! Control files as PostgreSQL 18 reads them: primary, secondary, and a secondary merged over a
//! primary, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::control::{ControlKind, merge_secondary, parse_control};

fuzz_target!(|data: &[u8]| {
    let primary = parse_control(data, ControlKind::Primary);
    let secondary = parse_control(data, ControlKind::Secondary);
    if let Ok(p) = &primary {
        // What the server accepts it can describe and merge again.
        let _ = p.install_privilege();
        let _ = merge_secondary(p, data);
    }
    if let Err(e) = &primary {
        let _ = (e.code(), e.sqlstate(), e.line(), e.pg_message("x.control"));
    }
    if let Err(e) = &secondary {
        let _ = e.pg_message("x--1.control");
    }
});
