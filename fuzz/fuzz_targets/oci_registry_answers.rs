//! What a registry says besides content: `WWW-Authenticate` challenges and error bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgext_oci::fuzzing::registry_answers(data));
