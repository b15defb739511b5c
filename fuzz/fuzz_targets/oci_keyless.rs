//! Keyless cosign signatures of arbitrary parts (`pgext_oci::fuzzing::keyless`): a trust root,
//! a certificate and chain, a payload, a signature and a transparency-log bundle, NUL-separated.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::keyless(data);
});
