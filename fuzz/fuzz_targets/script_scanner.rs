//! The SQL script scanner (library references of `CREATE FUNCTION ... LANGUAGE C` and `LOAD`)
//! on arbitrary bytes, as scripts are read (any encoding), with and without a `module_pathname`
//! to substitute.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::scripts::{library_references, library_references_in, library_references_unskimmed};

fuzz_target!(|data: &[u8]| {
    let plain = library_references_in(&mut data.to_vec(), None);
    let substituted = library_references_in(&mut data.to_vec(), Some("$libdir/fuzz"));
    // Skimming statements that cannot matter finds exactly what lexing them in full finds.
    assert_eq!(library_references_unskimmed(&mut data.to_vec(), None), plain);
    // Substitution changes names, never which statements are references.
    assert_eq!(plain.len(), substituted.len());
    for r in plain.iter().chain(&substituted) {
        assert!(r.line >= 1 && r.line <= data.len() + 1, "line {} of {} bytes", r.line, data.len());
    }
    // Text is the same scan.
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(library_references(text, None), plain);
    }
});
