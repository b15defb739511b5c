//! gzip (multi-member) and zstd framing: the first byte picks the codec, the rest is the stream;
//! output is capped so that decompression bombs only cost time within the cap. (igzip, which
//! inflates gzip layers in real builds, has its own target: oci_gzip.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_oci::Compression;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let compression = if first & 1 == 0 { Compression::Gzip } else { Compression::Zstd };
    let _ = pgext_oci::fuzzing::decompress(rest, compression, 16 << 20);
});
