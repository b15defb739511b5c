//! SPDX 2 JSON documents of SBOM attestations (`pgext_oci::fuzzing::spdx`): any bytes as a document.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::spdx(data);
});
