//! The ld.so cache parser on arbitrary bytes, for both byte orders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::elf::{ByteOrder, HostAbi, LdCache};

fuzz_target!(|data: &[u8]| {
    let mut host = HostAbi::compiled();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        host.byte_order = order;
        if let Ok(cache) = LdCache::parse(data, &host) {
            for entry in cache.entries() {
                assert!(cache.lookup(&entry.name).is_some());
            }
        }
    }
});
