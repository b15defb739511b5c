//! The SQL script scanner (library references of `CREATE FUNCTION ... LANGUAGE C` and `LOAD`)
//! on arbitrary text, with and without a `module_pathname` to substitute.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::scripts::library_references;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let plain = library_references(&text, None);
    let substituted = library_references(&text, Some("$libdir/fuzz"));
    // Substitution changes names, never which statements are references.
    assert_eq!(plain.len(), substituted.len());
    for r in plain.iter().chain(&substituted) {
        assert!(r.line >= 1 && r.line <= text.len() + 1, "line {} of {} bytes", r.line, text.len());
    }
});
