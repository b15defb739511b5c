//! Image references (`registry/repo:tag@digest`, `oci:`, `oci-archive:`): parse, print, parse
//! again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        pgext_oci::fuzzing::reference(text);
    }
});
