//! `oci-archive:` indexing (a tar of an OCI layout) and the reads a verification makes from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_oci::Limits;

fuzz_target!(|data: &[u8]| {
    // The archive reader works on a file (it seeks): one per fuzzing process, rewritten each run.
    let path = std::env::temp_dir().join(format!("pgext-fuzz-archive-{}.tar", std::process::id()));
    std::fs::write(&path, data).expect("writing the input");
    let limits = Limits { max_entries: 1000, ..Limits::default() };
    let _ = pgext_oci::fuzzing::archive(&path, &limits);
});
