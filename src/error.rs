//! The top-level error and outcome of a command, and the one place that maps them to exit codes.

use std::path::PathBuf;

/// How a command that ran to its end came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for is done.
    Done,
    /// The run finished, and this many items failed (see the report).
    SomeFailed(usize),
    /// The run stopped early and can be resumed.
    Stopped(StopReason),
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Signal,
    /// The next request would have passed `--max-cost`.
    MaxCost,
    /// The API refused the key or the quota (401, 403, `insufficient_quota`).
    Refused(String),
    /// A local file could not be written (disk full, file-size limit, permissions).
    Storage(String),
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
            StopReason::Storage(msg) => write!(f, "stopped: cannot write audio: {msg}"),
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

/// An error that ends a command before or instead of its work.
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
    /// A failure after requests went out (the queue, its writer thread, the report): the run
    /// stopped early, its audio is kept, and the same command resumes.
    #[error("{0}; run the same command again to resume")]
    AfterSend(String),
    /// Any other failure of our own before anything was sent (printing to stdout, say).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    /// An input error from anything displayable.
    pub fn input(msg: impl std::fmt::Display) -> Self {
        Error::Input(msg.to_string())
    }

    /// A failure once requests have gone out, from anything displayable.
    pub fn after_send(msg: impl std::fmt::Display) -> Self {
        Error::AfterSend(msg.to_string())
    }
}

impl From<crate::config::ConfigError> for Error {
    fn from(e: crate::config::ConfigError) -> Self {
        Error::Input(e.to_string())
    }
}

impl From<crate::queue::QueueError> for Error {
    fn from(e: crate::queue::QueueError) -> Self {
        Error::Queue(e.to_string())
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
        Ok(Outcome::Stopped(_)) | Err(Error::AfterSend(_)) => 3,
        Err(Error::Locked(_) | Error::Busy { .. }) => 4,
    }
}
