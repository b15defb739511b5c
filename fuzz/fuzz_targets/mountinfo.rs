//! `/proc/self/mountinfo` lines (octal escapes, optional fields, odd separators) and the mount
//! lookup over whatever table they make, cycles in the parent chain included.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pgext_core::mounts::parse_mountinfo_bytes;

fuzz_target!(|data: &[u8]| {
    let table = parse_mountinfo_bytes(data);
    for m in &table.mounts {
        let _ = (m.super_read_only(), m.super_option("ro"));
        let _ = table.mount_for(&m.mount_point);
    }
    for p in ["/", "/extensions/vector", "/proc/self"] {
        let _ = table.mount_for(Path::new(p));
    }
});
