//! Shared-row snapshot files (`pg_stat_tmp/pgext_*`), on arbitrary bytes: decoding never panics,
//! allocates no more than the input can describe, and what decodes encodes back to the same bytes.
//! The input is decoded as it is, and again with a valid checksum appended, so that the fuzzer
//! reaches the parser behind the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::hash::sha256;
use pgext_core::snapshot::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let mut summed = data.to_vec();
    summed.extend_from_slice(&sha256(data));
    for bytes in [data, summed.as_slice()] {
        for sig in ["", "sig"] {
            if let Ok((fp, payload)) = decode(bytes, sig) {
                assert_eq!(encode(sig, &fp, &payload), bytes);
            }
        }
    }
});
