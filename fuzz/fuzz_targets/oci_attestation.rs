//! in-toto statements and cosign DSSE envelopes (`pgext_oci::fuzzing::attestation`), judged with the
//! keys the input holds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pgext_oci::fuzzing::attestation(data);
});
