//! The top-level error and outcome of a command, and the one place that maps them to exit codes.

use std::path::PathBuf;
use std::sync::Arc;

use crate::domain::LocalError;
use crate::manifest::ManifestError;
use crate::queue::QueueError;
use crate::report::ReportError;

/// How a command that ran to its end came out.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Everything asked for is done.
    Done,
    /// The run finished, and this many items failed (see the report).
    SomeFailed(usize),
    /// The run stopped early and can be resumed.
    Stopped(StopReason),
}

/// Why a run stopped before its end.
#[derive(Debug, Clone)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Signal,
    /// The next request would have passed `--max-cost`.
    MaxCost,
    /// The API refused the key or the quota (401, 403, `insufficient_quota`).
    Refused(String),
    /// Our side failed after requests went out: the queue, the disk, a task.
    Storage(StorageError),
    /// The API gave no answer at all (refused, reset, DNS) for the outage spell.
    Unreachable(String),
    /// The API's TLS certificate is not trusted: not retried.
    Certificate(String),
    /// Attempt after attempt got the same server error and none succeeded (the message, and
    /// advice where there is some): the server will not speak until it is fixed.
    ServerFailing(String),
    /// Every item is done, and the book file could not be made (ffmpeg failed, a disk error):
    /// running again makes it, with nothing sent.
    Book(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Signal => f.write_str("stopped by a signal"),
            StopReason::MaxCost => {
                f.write_str("stopped before the estimated spend would pass --max-cost")
            }
            StopReason::Refused(msg) => write!(f, "stopped: the API refused the request: {msg}"),
            StopReason::Storage(e) => write!(f, "stopped: {e}"),
            StopReason::Unreachable(msg) => write!(
                f,
                "stopped: the API is unreachable ({msg}); run the same command again when it is back"
            ),
            StopReason::Certificate(msg) => write!(
                f,
                "stopped: {msg}; not retried (check --base-url and the system's certificate store)"
            ),
            StopReason::ServerFailing(msg) => write!(
                f,
                "stopped: every request got the same answer and none succeeded: {msg}; run the same command again once the server is fixed"
            ),
            StopReason::Book(msg) => write!(f, "stopped: cannot write the book file: {msg}"),
        }
    }
}

/// What failed on our side when a run stopped after requests went out. Each keeps its source;
/// the line says which part failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// The queue (SQLite, or its writer).
    #[error("the queue failed: {0}")]
    Queue(#[source] Arc<QueueError>),
    /// The thread that owns the queue's connection ended without giving it back.
    #[error("the queue failed: its writer thread died")]
    Writer,
    /// A file could not be written (disk full, file-size limit, permissions): the file, and
    /// the error as its source.
    #[error("cannot write audio: {0}")]
    Disk(#[source] LocalError),
    /// A task of the run ended abnormally (a panic).
    #[error("{what} failed: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: Arc<tokio::task::JoinError>,
    },
    /// The manifest could no longer be read while it was synced into the queue.
    #[error("the manifest could not be read again: {0}")]
    Manifest(#[source] Arc<ManifestError>),
    /// The report files could not be written.
    #[error("{}: cannot write the report: {source}", .path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: Arc<ReportError>,
    },
}

impl From<QueueError> for StorageError {
    fn from(e: QueueError) -> Self {
        StorageError::Queue(Arc::new(e))
    }
}

impl From<ManifestError> for StorageError {
    fn from(e: ManifestError) -> Self {
        StorageError::Manifest(Arc::new(e))
    }
}

/// An error that ends a command before or instead of its work: nothing was sent. A run's
/// failures after its first request are [`StopReason`]s instead, so that no `?` after that
/// point can turn one into "nothing was sent".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad usage, configuration or manifest: nothing was sent.
    #[error("{0}")]
    Input(String),
    /// Another run holds the queue.
    #[error("another run holds the queue {}", .0.display())]
    Locked(PathBuf),
    /// Another run holds the queue, and this command would write what it writes.
    #[error("another run holds the queue {}: {hint}", .path.display())]
    Busy { path: PathBuf, hint: &'static str },
    /// The queue database cannot be used, before any request went out.
    #[error("{0}")]
    Queue(String),
    /// Any other failure of our own before anything was sent (printing to stdout, say).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    /// An input error from anything displayable.
    pub fn input(msg: impl std::fmt::Display) -> Self {
        Error::Input(msg.to_string())
    }
}

impl From<crate::config::ConfigError> for Error {
    fn from(e: crate::config::ConfigError) -> Self {
        Error::Input(e.to_string())
    }
}

impl From<QueueError> for Error {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Locked(path) => Error::Locked(path),
            other => Error::Queue(other.to_string()),
        }
    }
}

/// The process exit status of a command's result, as SPEC section 6 fixes it: 1 only for a
/// run that finished with failed items, 2 only when nothing was sent, 3 for every stop after
/// requests went out (resumable), 4 for a queue another run holds.
pub fn exit_code(result: &Result<Outcome, Error>) -> u8 {
    match result {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::SomeFailed(_)) => 1,
        Err(Error::Input(_) | Error::Queue(_) | Error::Other(_)) => 2,
        Ok(Outcome::Stopped(_)) => 3,
        Err(Error::Locked(_) | Error::Busy { .. }) => 4,
    }
}
