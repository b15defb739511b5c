//! Image catalogs (`pgext_oci::fuzzing::catalog`): any bytes as a CloudNativePG catalog's YAML.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::catalog(data);
});
