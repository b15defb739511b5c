//! The escaped name form of tree listings (`\\`, `\xNN`): unescaping arbitrary text never
//! panics, and escaping is lossless and canonical for arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::tree::{escape_name, unescape_name};

fuzz_target!(|data: &[u8]| {
    let escaped = escape_name(data);
    assert_eq!(unescape_name(&escaped).as_deref(), Some(data));
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(raw) = unescape_name(text)
    {
        // Any escape that parses names bytes whose canonical form parses to the same bytes.
        assert_eq!(unescape_name(&escape_name(&raw)), Some(raw));
    }
});
