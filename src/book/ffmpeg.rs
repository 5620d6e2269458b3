//! The `ffmpeg` program, run as a separate process: finding it on `PATH` (before anything is
//! sent, so a missing one is a usage error) and running it with its errors kept, stopped (by
//! its process id) as soon as the run is cancelled.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often a running ffmpeg is checked against the run's cancellation: a signal stops it
/// within this, far inside the 5 s a stopping run has.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// What went wrong with ffmpeg.
#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    #[error(
        "--book m4b needs the ffmpeg program, and it is not on PATH; install it (Debian/Ubuntu: sudo apt-get install ffmpeg; Fedora: sudo dnf install ffmpeg; macOS: brew install ffmpeg) or use --book mp3"
    )]
    Missing,
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("ffmpeg {what}: stopped by a signal")]
    Cancelled { what: String },
    #[error("ffmpeg {what} failed ({status}): {stderr}")]
    Failed {
        what: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// The `ffmpeg` executable on `PATH`.
pub fn find() -> Result<PathBuf, FfmpegError> {
    find_in(std::env::var_os("PATH").as_deref())
}

fn find_in(path: Option<&OsStr>) -> Result<PathBuf, FfmpegError> {
    use std::os::unix::fs::PermissionsExt;
    let path = path.ok_or(FfmpegError::Missing)?;
    std::env::split_paths(path)
        .map(|dir| dir.join("ffmpeg"))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or(FfmpegError::Missing)
}

/// A command for `program` that reads no terminal, says only errors, and overwrites its output.
pub fn command(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Runs `cmd` to the end (see [`wait`]).
pub fn run(mut cmd: Command, what: &str, cancel: &CancellationToken) -> Result<(), FfmpegError> {
    let child = cmd.spawn().map_err(|source| FfmpegError::Spawn {
        program: cmd.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    wait(child, what, cancel)
}

/// Waits for `child` to end, reading its stderr beside it; a failure keeps the last lines
/// ffmpeg wrote. When `cancel` fires first, the child is killed (by its process id) and reaped
/// before this returns, so no ffmpeg outlives the run or still writes a file the caller is
/// about to remove.
pub fn wait(mut child: Child, what: &str, cancel: &CancellationToken) -> Result<(), FfmpegError> {
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_end(&mut text);
        }
        text
    });
    let spawn_error = |source| FfmpegError::Spawn {
        program: "ffmpeg".to_owned(),
        source,
    };
    let status = loop {
        if cancel.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = reader.join();
            return Err(FfmpegError::Cancelled {
                what: what.to_owned(),
            });
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(CANCEL_POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(spawn_error(e));
            }
        }
    };
    let stderr = reader.join().unwrap_or_default();
    check(status, &stderr, what)
}

/// Turns an exit status and ffmpeg's stderr into a result.
pub fn check(
    status: std::process::ExitStatus,
    stderr: &[u8],
    what: &str,
) -> Result<(), FfmpegError> {
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(stderr);
    let tail: Vec<&str> = text.lines().rev().take(3).collect();
    Err(FfmpegError::Failed {
        what: what.to_owned(),
        status,
        stderr: tail.into_iter().rev().collect::<Vec<_>>().join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ffmpeg_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_in(Some(dir.path().as_os_str()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("apt-get install ffmpeg") && e.contains("brew install ffmpeg"),
            "{e}"
        );
        assert!(find_in(None).is_err());
        assert!(find().is_ok(), "ffmpeg is installed here");
    }
}
