//! Finding an external program (`espeak-ng`, `piper`) the way a shell does: the first
//! executable file of that name in `PATH`. The voices run them as separate processes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The first executable file called `name` in the folders of `path_var` (`PATH`'s value).
pub fn find_on_path(path_var: Option<OsString>, name: &str) -> Option<PathBuf> {
    std::env::split_paths(&path_var?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
