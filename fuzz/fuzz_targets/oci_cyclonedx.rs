//! CycloneDX JSON BOMs of SBOM attestations (`pgext_oci::fuzzing::cyclonedx`): any bytes as a document.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::cyclonedx(data);
});
