//! SLSA provenance predicates (`pgext_oci::fuzzing::provenance`): first byte picks v0.2 or v1.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::provenance(data);
});
