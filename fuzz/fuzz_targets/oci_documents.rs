//! Manifest, index and image config parsing (and platform selection) of arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgext_oci::fuzzing::documents(data));
