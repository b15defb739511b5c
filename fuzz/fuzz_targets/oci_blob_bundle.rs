//! sign-blob bundles (`pgext_oci::fuzzing::blob_bundle`): any bytes as the bundle of a file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::blob_bundle(data);
});
