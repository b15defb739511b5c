//! Sigstore bundles as cosign attaches them as OCI 1.1 referrers (`pgext_oci::fuzzing::bundle`):
//! any bytes as a bundle, judged with whatever keys and trust root the same bytes hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::bundle(data);
});
