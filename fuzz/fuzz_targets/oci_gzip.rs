//! gzip layers as pgext inflates them (ISA-L's igzip, built with `--features isal`: see
//! scripts/fuzz.sh) against flate2: never refusing what flate2 inflates, never different bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::gzip_agrees_with_flate2(data, 16 << 20);
});
