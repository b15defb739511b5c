//! Layer application (tar: whiteouts, opaque directories, PAX and GNU long names, hard links,
//! sparse files, every entry type) of arbitrary bytes. The first byte picks the compression and
//! default or tight limits; the rest is the blob.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_oci::{Compression, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let compression = match first % 3 {
        0 => Compression::None,
        1 => Compression::Gzip,
        _ => Compression::Zstd,
    };
    let limits = if first & 0x80 != 0 {
        Limits {
            max_layer_bytes: 1 << 20,
            max_file_bytes: 64 << 10,
            max_entries: 64,
            max_path_bytes: 256,
            max_metadata_bytes: 4096,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    if let Ok(entries) = pgext_oci::fuzzing::layer(rest, compression, &limits) {
        // What comes out is a tree pgext can digest.
        pgext_oci::tree_digest(&entries).expect("a built tree has a digest");
    }
});
