//! Docker `config.json` credential lookup of arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgext_oci::fuzzing::docker_config(data));
