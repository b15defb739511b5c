//! The SQL script scanner (library references of `CREATE FUNCTION ... LANGUAGE C` and `LOAD`,
//! server files read by `COPY ... FROM 'file'` and the file-reading functions) on arbitrary
//! bytes, as scripts are read (any encoding), with and without a `module_pathname` to substitute.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::scripts::{library_references_in, scan_script, scan_script_in, scan_script_unskimmed};

fuzz_target!(|data: &[u8]| {
    let plain = scan_script_in(&mut data.to_vec(), None);
    let substituted = scan_script_in(&mut data.to_vec(), Some("$libdir/fuzz"));
    // Skimming statements that cannot matter finds exactly what lexing them in full finds.
    assert_eq!(scan_script_unskimmed(&mut data.to_vec(), None), plain);
    // The libraries-only entry point is the same scan.
    assert_eq!(library_references_in(&mut data.to_vec(), None), plain.libraries);
    // Substitution changes names and paths, never which statements are references or reads.
    assert_eq!(plain.libraries.len(), substituted.libraries.len());
    assert_eq!(plain.file_reads.len(), substituted.file_reads.len());
    let lines = plain
        .libraries
        .iter()
        .chain(&substituted.libraries)
        .map(|r| r.line)
        .chain(plain.file_reads.iter().chain(&substituted.file_reads).map(|r| r.line));
    for line in lines {
        assert!(line >= 1 && line <= data.len() + 1, "line {line} of {} bytes", data.len());
    }
    for (p, s) in plain.file_reads.iter().zip(&substituted.file_reads) {
        assert_eq!((p.kind, p.line, p.in_do_block, &p.raw), (s.kind, s.line, s.in_do_block, &s.raw));
    }
    // Text is the same scan.
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(scan_script(text, None), plain);
    }
});
