//! OpenAI's Realtime API as a voice (SPEC sections 1 and 10): a WebSocket per worker, each
//! piece one out-of-band response told to read its text verbatim, its PCM encoded in-process
//! into the `--audio-format`, its transcript and billed usage handed back with it.
//!
//! `connection.rs` opens and talks one WebSocket; `session.rs` is what the session and each
//! response are told; `events.rs` reads the server's events and classes its errors.

mod connection;
mod events;
mod session;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::future::BoxFuture;

use super::encode::{self, Samples};
use super::{
    Fetched, Provider, RateHints, SpeechError, SpeechRequest, encode_off_workers, save_whole,
};
use crate::config::ApiKey;
use crate::domain::AudioFormat;
use crate::plan::prices::Usage;
use connection::{Connection, Redactor, SESSION_LIMIT, redact_error};
use events::Event;
pub use session::PCM_RATE;

use crate::domain::REALTIME_SPEEDS as SPEEDS;

/// The Realtime voice: where it is, the key, and the idle sessions workers hand back.
pub struct Realtime {
    url: String,
    key: Option<ApiKey>,
    timeout: Duration,
    /// Configured sessions not in use: at most one per worker, since a worker takes one for a
    /// piece and gives it back after.
    idle: Mutex<Vec<Connection>>,
    session_limit: Duration,
}

/// A base URL that has no Realtime WebSocket URL.
#[derive(Debug, thiserror::Error)]
#[error("`{base_url}`: {why}")]
pub struct NoWebSocketUrl {
    base_url: String,
    why: String,
}

/// The WebSocket URL of the Realtime API under a base URL: `https` becomes `wss`, `http`
/// (loopback, or allowed insecure) becomes `ws`, with `/realtime?model=MODEL` appended.
pub fn realtime_url(base_url: &str, model: &str) -> Result<String, NoWebSocketUrl> {
    let refused = |why: String| NoWebSocketUrl {
        base_url: base_url.to_string(),
        why,
    };
    let mut url = url::Url::parse(base_url).map_err(|e| refused(e.to_string()))?;
    let scheme = match url.scheme() {
        "https" => "wss",
        "http" => "ws",
        other => return Err(refused(format!("scheme {other} has no WebSocket"))),
    };
    url.set_scheme(scheme)
        .map_err(|()| refused("cannot be a WebSocket URL".into()))?;
    let path = format!("{}/realtime", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut().clear().append_pair("model", model);
    Ok(url.to_string())
}

/// The session length in force: [`SESSION_LIMIT`], or in debug builds (the tests) the seconds
/// in `TTS_BATCH_SESSION_SECS`.
fn session_limit() -> Duration {
    #[cfg(debug_assertions)]
    if let Some(secs) = std::env::var("TTS_BATCH_SESSION_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_secs(secs);
    }
    SESSION_LIMIT
}

/// What one response brought.
struct Spoken {
    pcm: Vec<u8>,
    transcript: Option<String>,
    usage: Option<Usage>,
    hints: RateHints,
}

fn retry(reason: impl Into<String>) -> SpeechError {
    SpeechError::Retryable {
        reason: reason.into(),
        after: None,
        rate_limited: false,
    }
}

impl Realtime {
    /// A voice at `{base_url}/realtime?model=MODEL`.
    pub fn new(
        base_url: &str,
        model: &str,
        key: Option<ApiKey>,
        timeout: Duration,
    ) -> Result<Realtime, NoWebSocketUrl> {
        // The TLS of `wss` is rustls with ring, as for the HTTP client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Realtime {
            url: realtime_url(base_url, model)?,
            key,
            timeout,
            idle: Mutex::new(Vec::new()),
            session_limit: session_limit(),
        })
    }

    /// An idle session young enough for a piece, else a new one.
    async fn take(&self, voice: &str, speed: f64) -> Result<Connection, SpeechError> {
        loop {
            let conn = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match conn {
                Some(conn) if conn.fresh(self.session_limit) => return Ok(conn),
                Some(old) => old.close().await,
                None => break,
            }
        }
        tracing::debug!("opening a realtime session");
        Connection::open(&self.url, self.key.as_ref(), voice, speed, self.timeout).await
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    /// One piece: the response's audio, transcript and usage. The session is given back only
    /// after a response that ended cleanly; after anything else it is dropped, and the next
    /// piece opens a new one (nothing half-received is kept).
    async fn speak(&self, req: &SpeechRequest<'_>) -> Result<Spoken, SpeechError> {
        let speed = req
            .speed
            .unwrap_or(1.0)
            .clamp(*SPEEDS.start(), *SPEEDS.end());
        let mut conn = self.take(req.voice, speed).await?;
        let redact = Redactor(self.key.as_ref());
        let result = self.respond(&mut conn, req, speed, &redact).await;
        match &result {
            Ok(_) => self.give_back(conn),
            Err(_) => conn.close().await,
        }
        result.map_err(|e| redact_error(e, &redact))
    }

    async fn respond(
        &self,
        conn: &mut Connection,
        req: &SpeechRequest<'_>,
        speed: f64,
        redact: &Redactor<'_>,
    ) -> Result<Spoken, SpeechError> {
        let deadline = Instant::now() + self.timeout;
        conn.configure(req.voice, speed, deadline, redact).await?;
        let instructions = session::instructions(req.instructions, req.firmer);
        conn.send(
            &session::response("", req.input, req.voice, &instructions),
            redact,
        )
        .await?;
        let mut spoken = Spoken {
            pcm: Vec::new(),
            transcript: None,
            usage: None,
            hints: RateHints::default(),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        loop {
            match conn.next(deadline, redact).await? {
                Event::AudioDelta(delta) => b64
                    .decode_vec(delta.as_bytes(), &mut spoken.pcm)
                    .map_err(|e| retry(format!("realtime audio is not base64: {e}")))?,
                Event::Transcript(text) => spoken.transcript = Some(text),
                Event::RateLimits(hints) => spoken.hints = hints,
                Event::Error(e) => return Err(e),
                Event::Done(done) => {
                    spoken.usage = done.usage;
                    return match done.status.as_str() {
                        "completed" => Ok(spoken),
                        status => Err(ended(status, &done)),
                    };
                }
                _ => {}
            }
        }
    }
}

/// The class of a response that did not complete: a failed one by its error code (as an
/// `error` event), an incomplete one by its reason (a content filter refuses the text: the item
/// fails; a token limit cut the audio: try again), a cancelled one is tried again.
fn ended(status: &str, done: &events::Done) -> SpeechError {
    let said = format!("realtime response {status}: {}", done.details);
    match (status, done.details.as_str()) {
        ("failed", _) => {
            let code = done.code.as_deref().unwrap_or("");
            events::classify(code, "", said, &done.details)
        }
        ("incomplete", details) if details.starts_with("content_filter") => {
            SpeechError::ItemFailed(said)
        }
        _ => retry(said),
    }
}

/// The PCM of a response, encoded into `format`.
fn encode_pcm(pcm: &[u8], format: AudioFormat) -> Result<Vec<u8>, SpeechError> {
    if pcm.is_empty() {
        return Err(retry("realtime response had no audio"));
    }
    if !pcm.len().is_multiple_of(2) {
        return Err(retry("realtime audio ends half-way through a sample"));
    }
    let samples = Samples {
        rate: PCM_RATE,
        samples: pcm
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect(),
    };
    encode::encode(&samples, format).map_err(|e| SpeechError::ItemFailed(e.to_string()))
}

impl Provider for Realtime {
    fn fetch<'a>(
        &'a self,
        request: &'a SpeechRequest<'a>,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<Fetched, SpeechError>> {
        Box::pin(async move {
            let spoken = self.speak(request).await?;
            let format = request.response_format;
            let pcm = spoken.pcm;
            let bytes = encode_off_workers(format, move || encode_pcm(&pcm, format)).await?;
            Ok(Fetched {
                hints: spoken.hints,
                transcript: spoken.transcript,
                usage: spoken.usage,
                ..save_whole(dest, &bytes).await?
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_follows_the_base_url() {
        assert_eq!(
            realtime_url("https://api.openai.com/v1", crate::domain::REALTIME_MODEL).unwrap(),
            "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1-mini"
        );
        assert_eq!(
            realtime_url("http://127.0.0.1:8080/v1", "m").unwrap(),
            "ws://127.0.0.1:8080/v1/realtime?model=m"
        );
    }

    #[test]
    fn failed_and_incomplete_responses_are_classed() {
        let done = |code: Option<&str>, details: &str| events::Done {
            status: String::new(),
            details: details.into(),
            code: code.map(str::to_string),
            usage: None,
        };
        assert!(matches!(
            ended("failed", &done(Some("insufficient_quota"), "quota")),
            SpeechError::RunStopped(_)
        ));
        assert!(matches!(
            ended("failed", &done(Some("server_error"), "oops")),
            SpeechError::Retryable { .. }
        ));
        assert!(matches!(
            ended("incomplete", &done(None, "content_filter")),
            SpeechError::ItemFailed(_)
        ));
        assert!(matches!(
            ended("incomplete", &done(None, "max_output_tokens")),
            SpeechError::Retryable { .. }
        ));
        assert!(encode_pcm(&[1, 2, 3], AudioFormat::Wav).is_err());
        assert!(encode_pcm(&[], AudioFormat::Wav).is_err());
    }
}
