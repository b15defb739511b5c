//! Unpacking a layer of arbitrary bytes into a directory (`pgext_oci::unpack`): nothing is written
//! beside it, no symlink in it leads out of it, and it holds exactly the tree the layer makes.
//! Input as for `oci_layer`: the first byte picks the compression and limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((compression, limits, rest)) = pgext_oci::fuzzing::layer_input(data) else { return };
    let _ = pgext_oci::fuzzing::unpack_layer(rest, compression, &limits);
});
