//! cosign trusted-key PEM and signature layers (payload, annotation) of arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgext_oci::fuzzing::cosign(data));
