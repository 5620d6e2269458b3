//! The voices behind one trait: what a request is, how a failure is classed, the
//! OpenAI-compatible HTTP client (`openai.rs`) with its retry and rate hints (`hints.rs`), and
//! the offline `espeak-ng` (`espeak/`) and Piper (`piper/`), the Realtime API (`realtime/`),
//! and the encoders the voices that hand over samples share (`encode/`). The workers hand a [`Provider`] one request and a file
//! to fill, and act on the error class it returns; nothing else in the run knows who speaks.

pub mod encode;
pub mod espeak;
pub mod hints;
pub mod openai;
pub mod piper;
pub mod program;
pub mod realtime;
pub mod voice;

use std::path::Path;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::domain::{AudioFormat, LocalError};
pub use hints::RateHints;
pub use openai::SpeechClient;

/// The JSON body of `POST /audio/speech`.
#[derive(Debug, Serialize)]
pub struct SpeechRequest<'a> {
    pub model: &'a str,
    pub input: &'a str,
    pub voice: &'a str,
    pub response_format: AudioFormat,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<&'a str>,
    /// Asking again after a reading that did not match its text: a voice that takes
    /// instructions is told more firmly to read verbatim. Never sent as such.
    #[serde(skip)]
    pub firmer: bool,
}

/// What the pool does about a failed request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpeechError {
    /// Try again later: network errors, timeouts, 408, 409, 429 (rate), 5xx, non-audio bodies.
    #[error("{reason}")]
    Retryable {
        reason: String,
        /// The server's hint of when to try again.
        after: Option<Duration>,
        /// A 429: every worker pauses, not only this one.
        rate_limited: bool,
    },
    /// The server refused this text (400, 404, 413, 422, other 4xx): the item fails.
    #[error("{0}")]
    ItemFailed(String),
    /// The server refused the key or the quota (401, 403, `insufficient_quota`): stop the run.
    #[error("{0}")]
    RunStopped(String),
    /// Our own disk failed while writing the response.
    #[error("{0}")]
    Local(crate::domain::LocalError),
    /// No answer at all: the connection was refused, reset or never made (DNS, network). It
    /// spends no attempt of the piece; the workers stop the run when it lasts (the outage rule,
    /// `run::workers::OUTAGE_SPELL`).
    #[error("{0}")]
    Unreachable(String),
    /// The server's TLS certificate is not trusted: retrying cannot help, the run stops.
    #[error("{0}")]
    Certificate(String),
}

/// A response that was saved whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    pub bytes: u64,
    pub hints: RateHints,
    /// What the voice said it spoke (the Realtime API's transcript), for the verbatim check.
    pub transcript: Option<String>,
    /// The tokens the server billed for this answer, where it says so.
    pub usage: Option<crate::plan::prices::Usage>,
}

/// Writes the whole of a local voice's encoded audio to `dest` (created or truncated),
/// flushed and synced: the [`Fetched`] of a voice with no rate hints, transcript or usage.
pub async fn save_whole(dest: &Path, bytes: &[u8]) -> Result<Fetched, SpeechError> {
    use tokio::io::AsyncWriteExt;
    let local = |e| SpeechError::Local(LocalError::at(dest)(e));
    let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
    file.write_all(bytes).await.map_err(local)?;
    // tokio finishes a write in the background: flushing waits for it. No sync: the workers
    // make the piece durable (`store::GroupSync`).
    file.flush().await.map_err(local)?;
    Ok(Fetched {
        bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        ..Fetched::default()
    })
}

/// Runs a voice's encoding (LAME, libopus, FLAC: CPU work) on the blocking pool, so that `-j`
/// pieces encode on `-j` cores and never on the async workers.
pub async fn encode_off_workers(
    format: AudioFormat,
    encode: impl FnOnce() -> Result<Vec<u8>, SpeechError> + Send + 'static,
) -> Result<Vec<u8>, SpeechError> {
    tokio::task::spawn_blocking(encode)
        .await
        .map_err(|e| SpeechError::Local(LocalError::new(format_args!("encoding {format}"), e)))?
}

/// A voice the workers send pieces to.
pub trait Provider: Send + Sync {
    /// Speaks one request into `dest` (created or truncated and written whole; no need to
    /// sync it: the workers make it durable with the store's group sync, `store::GroupSync`,
    /// before the queue records it), and says how many bytes it wrote. Failures come classified: retry later, fail the item, stop
    /// the run, or a local disk error.
    fn fetch<'a>(
        &'a self,
        request: &'a SpeechRequest<'a>,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<Fetched, SpeechError>>;

    /// Ends what the voice keeps between requests (warm processes) once the run's workers are
    /// done, so that nothing outlives the run. Nothing to end by default.
    fn finish(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

impl Provider for SpeechClient {
    fn fetch<'a>(
        &'a self,
        request: &'a SpeechRequest<'a>,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<Fetched, SpeechError>> {
        Box::pin(SpeechClient::fetch(self, request, dest))
    }
}
