//! The version graph of a script directory: one file name per line, then every search the
//! inventory makes (available versions, install paths, update paths), for panics and for time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgext_core::scripts::ScriptSet;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let names: Vec<&str> = text.lines().collect();
    let set = ScriptSet::from_file_names("e", names.iter().copied());
    let available = set.installable_versions();
    let versions: Vec<String> = set.versions().map(str::to_owned).collect();
    for a in &available {
        // Every listed path starts at an install script and ends at its version.
        assert!(set.has_install_script(&a.path[0]), "{a:?}");
        assert_eq!(a.path.last(), Some(&a.version));
    }
    for v in versions.iter().take(64) {
        if let Some(path) = set.install_path(v) {
            assert_eq!(path.last(), Some(v));
        }
        for w in versions.iter().take(8) {
            let _ = set.update_path(v, w);
        }
    }
    for p in set.problems() {
        let _ = (p.code(), p.file_name(), p.to_string());
    }
});
