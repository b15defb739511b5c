//! The server files extension scripts read while they run (`COPY … FROM 'file'`,
//! `pg_read_file('file')`, …), looked up where the server would open them.
//!
//! The server opens the path as given: an absolute one as is, a relative one against its
//! working directory, the data directory (`ChangeToDataDir()`; `BeginCopyFrom()` in
//! commands/copyfrom.c calls `AllocateFile(filename, "r")` on it, then refuses a directory with
//! `"%s" is a directory`). A FIFO blocks the open until something writes to it.

use super::*;
use crate::scripts::{FileRead, FileReadKind};

/// What the server finds at a path a script reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataFileState {
    /// A regular file or a device the server can open and read.
    Readable,
    /// Nothing there (`ENOENT`, `ENOTDIR`): "could not open file … No such file or directory".
    Missing,
    /// A directory, FIFO or socket: `COPY` refuses a directory, a FIFO blocks it.
    NotRegular(&'static str),
    /// There, but the server cannot open it: the OS error (judged only inside the server, whose
    /// user this process is).
    Unreadable(String),
    /// Not judged, and why: a relative path where the data directory is not known (a
    /// pre-flight), or a placeholder whose value is known only when the script runs.
    Unknown(String),
}

impl DataFileState {
    /// The server fails on it (or blocks).
    pub fn fails(&self) -> bool {
        matches!(
            self,
            DataFileState::Missing | DataFileState::NotRegular(_) | DataFileState::Unreadable(_)
        )
    }

    /// Stable name used in SQL output.
    pub fn as_str(&self) -> &'static str {
        match self {
            DataFileState::Readable => "readable",
            DataFileState::Missing => "missing",
            DataFileState::NotRegular(_) => "not_regular",
            DataFileState::Unreadable(_) => "unreadable",
            DataFileState::Unknown(_) => "unknown",
        }
    }
}

/// A server file read by one of an extension's scripts, looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFileRead {
    /// Script file name.
    pub script: String,
    /// 1-based line of the file name.
    pub line: usize,
    /// `COPY` or the reading function.
    pub kind: FileReadKind,
    /// The path the server opens (after `MODULE_PATHNAME` substitution).
    pub path: String,
    /// Inside a `DO` block (it runs, possibly under a condition).
    pub in_do_block: bool,
    /// Read by a function the script creates and then calls: its name and the call's line.
    pub via: Option<(String, usize)>,
    /// Where it was looked up on this machine (relative paths joined to the data directory,
    /// a pre-flight's server root prefixed); `None` when not looked up.
    pub looked_up: Option<String>,
    /// What is there.
    pub state: DataFileState,
    /// A file of the same name in the extension's own script directory (or beside its control
    /// file): where the image really has it, when the script looks elsewhere.
    pub in_image: Option<String>,
}

/// Where the server's `path` is on this machine, or why that cannot be said.
fn local_path(path: &str, settings: &Settings) -> Result<String, String> {
    if path.contains("@extschema") || path.contains("@extowner@") {
        return Err("the path holds a placeholder whose value is known only when the script runs".into());
    }
    let absolute = if path.starts_with('/') {
        path.to_owned()
    } else {
        match &settings.data_directory {
            Some(data) => format!("{}/{path}", data.trim_end_matches('/')),
            None => {
                return Err(
                    "a relative path opens against the server's data directory, which is not known here".into(),
                );
            }
        }
    };
    let mounted = settings.server_mounts.iter().find_map(|(at, here)| {
        let rest = absolute.strip_prefix(at.trim_end_matches('/'))?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{}{rest}", here.trim_end_matches('/')))
    });
    Ok(match (mounted, &settings.server_root) {
        (Some(here), _) => here,
        (None, Some(root)) => format!("{}{absolute}", root.trim_end_matches('/')),
        (None, None) => absolute,
    })
}

/// Looks `path` up as the server would open it.
fn state_of(local: &str, settings: &Settings) -> DataFileState {
    let meta = match fs::metadata(local) {
        Ok(m) => m,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => return DataFileState::Missing,
        Err(e) => return DataFileState::Unreadable(e.to_string()),
    };
    let ft = meta.file_type();
    if ft.is_dir() || ft.is_fifo() || ft.is_socket() {
        return DataFileState::NotRegular(fsinfo::kind_name(ft));
    }
    if settings.reads_as_server {
        match fsinfo::access(Path::new(local), libc::R_OK) {
            Ok(true) => {}
            Ok(false) => return DataFileState::Unreadable(std::io::Error::from_raw_os_error(libc::EACCES).to_string()),
            Err(e) => return DataFileState::Unreadable(e.to_string()),
        }
    }
    DataFileState::Readable
}

/// The file reads of one script, looked up; `image_dirs` are the extension's own directories
/// (script directory, control directory), searched for a file of the same name.
pub(super) fn look_up(
    script: &str,
    reads: &[FileRead],
    settings: &Settings,
    image_dirs: &[&str],
) -> Vec<ScriptFileRead> {
    reads
        .iter()
        .map(|r| {
            let (looked_up, state) = match local_path(&r.path, settings) {
                Ok(local) => {
                    let state = state_of(&local, settings);
                    (Some(local), state)
                }
                Err(why) => (None, DataFileState::Unknown(why)),
            };
            let in_image = if state == DataFileState::Readable {
                None
            } else {
                r.path
                    .rsplit('/')
                    .next()
                    .filter(|b| !b.is_empty() && *b != "." && *b != "..")
                    .and_then(|base| {
                        image_dirs
                            .iter()
                            .map(|d| format!("{d}/{base}"))
                            .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file()))
                    })
            };
            ScriptFileRead {
                script: script.to_owned(),
                line: r.line,
                kind: r.kind,
                path: r.path.clone(),
                in_do_block: r.in_do_block,
                via: r.via.clone(),
                looked_up,
                state,
                in_image,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripts::scan_script;

    fn settings(data: Option<&str>, root: Option<&str>, as_server: bool) -> Settings {
        Settings {
            data_directory: data.map(str::to_owned),
            server_root: root.map(str::to_owned),
            reads_as_server: as_server,
            ..Settings::default()
        }
    }

    #[test]
    fn states_as_the_server_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        fs::create_dir_all(format!("{d}/data/sub")).unwrap();
        fs::write(format!("{d}/data/rel.csv"), "1\n").unwrap();
        fs::write(format!("{d}/abs.csv"), "1\n").unwrap();
        fs::create_dir_all(format!("{d}/img/share/extension")).unwrap();
        fs::write(format!("{d}/img/share/extension/gone.data"), "x").unwrap();
        let fifo = std::ffi::CString::new(format!("{d}/fifo")).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let sql = format!(
            "COPY t FROM '{d}/abs.csv';\nCOPY t FROM '/nonexistent/share/extension/gone.data';\n\
             COPY t FROM 'rel.csv';\nCOPY t FROM 'sub';\nCOPY t FROM '{d}/fifo';\n\
             COPY t FROM '{d}/abs.csv/below';\nCOPY t FROM '@extschema@.csv';"
        );
        let reads = scan_script(&sql, None).file_reads;
        let img = format!("{d}/img/share/extension");
        let found = look_up(
            "x--1.sql",
            &reads,
            &settings(Some(&format!("{d}/data")), None, true),
            &[&img],
        );
        let states: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|f| (f.state.as_str(), f.in_image.as_deref()))
            .collect();
        let gone = format!("{img}/gone.data");
        assert_eq!(
            states,
            [
                ("readable", None),
                ("missing", Some(gone.as_str())),
                ("readable", None),
                ("not_regular", None),
                ("not_regular", None),
                ("missing", None),
                ("unknown", None),
            ]
        );
        assert_eq!(
            found[2].looked_up.as_deref(),
            Some(format!("{d}/data/rel.csv").as_str())
        );
        assert_eq!(found[3].state, DataFileState::NotRegular("directory"));
        assert_eq!(found[4].state, DataFileState::NotRegular("FIFO"));
        assert!(found.iter().all(|f| f.script == "x--1.sql"));

        // A pre-flight: the data directory is not known, absolute paths are under its root.
        let pre = look_up("x--1.sql", &reads, &settings(None, Some(&d), false), &[]);
        assert_eq!(pre[0].state, DataFileState::Missing); // <root>/<d>/abs.csv
        assert!(matches!(&pre[2].state, DataFileState::Unknown(why) if why.contains("data directory")));
        let rooted = look_up(
            "x",
            &scan_script("COPY t FROM '/abs.csv';", None).file_reads,
            &settings(None, Some(&d), false),
            &[],
        );
        assert_eq!(rooted[0].state, DataFileState::Readable);
        assert_eq!(rooted[0].looked_up.as_deref(), Some(format!("{d}/abs.csv").as_str()));
        // An image the server mounts at /extensions/<name> is looked up where it is here.
        let mut mounted = settings(None, Some("/nonexistent"), false);
        mounted.server_mounts = vec![("/extensions/img".into(), format!("{d}/img"))];
        let sql = "COPY t FROM '/extensions/img/share/extension/gone.data';\nCOPY t FROM '/extensions/imgx/a';";
        let m = look_up("x", &scan_script(sql, None).file_reads, &mounted, &[]);
        assert_eq!(m[0].looked_up.as_deref(), Some(gone.as_str()));
        assert_eq!(m[0].state, DataFileState::Readable);
        assert_eq!(m[1].looked_up.as_deref(), Some("/nonexistent/extensions/imgx/a"));
    }

    /// Permissions are judged only as the server's own user.
    #[test]
    fn unreadable_only_as_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret.csv");
        fs::write(&f, "1\n").unwrap();
        fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        let sql = format!("COPY t FROM '{}';", f.display());
        let reads = scan_script(&sql, None).file_reads;
        let outside = look_up("x", &reads, &settings(None, None, false), &[]);
        assert_eq!(outside[0].state, DataFileState::Readable);
        let inside = look_up("x", &reads, &settings(None, None, true), &[]);
        // root reads anything: only an unprivileged run sees the refusal.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(matches!(inside[0].state, DataFileState::Unreadable(_)));
        } else {
            assert_eq!(inside[0].state, DataFileState::Readable);
        }
    }
}
