//! Header, dynamic section, symbol versions and magic-block decoding of arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::elf::{HostAbi, ReadLimits, ServerMagic, inspect_bytes};

fuzz_target!(|data: &[u8]| {
    let host = HostAbi::compiled();
    // Small budgets also exercise the limit paths.
    let limits = if data.first().is_some_and(|b| b & 1 == 1) {
        ReadLimits { max_bytes_per_file: 1 << 16, max_name_len: 256, max_objects: 4, max_version_records: 64 }
    } else {
        ReadLimits::default()
    };
    let report = inspect_bytes(data.to_vec(), &host, &ServerMagic::pg18(host.class), limits);
    // A report always says why it is not loadable.
    assert!(report.loadable || !report.problems.is_empty());
});
