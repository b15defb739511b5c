//! Layer application (tar: whiteouts, opaque directories, PAX and GNU long names, hard links,
//! sparse files, every entry type) of arbitrary bytes. The first byte picks the compression and
//! default or tight limits; the rest is the blob.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((compression, limits, rest)) = pgext_oci::fuzzing::layer_input(data) else { return };
    if let Ok(entries) = pgext_oci::fuzzing::layer(rest, compression, &limits) {
        // What comes out is a tree pgext can digest.
        pgext_oci::tree_digest(&entries).expect("a built tree has a digest");
    }
});
