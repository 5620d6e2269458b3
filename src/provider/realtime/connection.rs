//! One WebSocket to the Realtime API: opened with the key as a Bearer header, configured by
//! `session.update`, then used for one piece after another. A refused upgrade is classed as an
//! HTTP answer of the same status; a connection that cannot be made at all is no answer.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::events::{self, Event};
use super::session;
use crate::config::ApiKey;
use crate::provider::SpeechError;

/// How long a session may last (the API closes it at 60 minutes): a connection older than this
/// is replaced before its next piece, so no piece meets the limit half-way.
pub const SESSION_LIMIT: Duration = Duration::from_secs(55 * 60);

/// A configured Realtime session.
pub struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    opened: Instant,
    /// The voice and speed its session was last set to.
    voice: String,
    speed: f64,
}

/// What a failure to connect or talk says, with the key taken out.
pub struct Redactor<'a>(pub Option<&'a ApiKey>);

impl Redactor<'_> {
    pub fn text(&self, text: &str) -> String {
        let mut s = match self.0.map(ApiKey::expose).filter(|k| k.len() >= 4) {
            Some(key) => text.replace(key, "[redacted]"),
            None => text.to_string(),
        };
        if s.chars().count() > 300 {
            s = s.chars().take(300).collect::<String>() + "…";
        }
        s
    }
}

fn retry(reason: String) -> SpeechError {
    SpeechError::Retryable {
        reason,
        after: None,
        rate_limited: false,
    }
}

impl Connection {
    /// Opens a WebSocket to `url`, waits for `session.created`, and sets the session up for
    /// `voice` and `speed`; all within `timeout`.
    pub async fn open(
        url: &str,
        key: Option<&ApiKey>,
        voice: &str,
        speed: f64,
        timeout: Duration,
    ) -> Result<Connection, SpeechError> {
        let redact = Redactor(key);
        let mut request = url
            .into_client_request()
            .map_err(|e| SpeechError::RunStopped(format!("realtime URL {url}: {e}")))?;
        if let Some(key) = key {
            let value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .map_err(|_| SpeechError::RunStopped("the API key is not a header value".into()))?;
            request.headers_mut().insert("authorization", value);
        }
        let connect = tokio_tungstenite::connect_async_with_config(request, None, true);
        let (ws, _) =
            match tokio::time::timeout(timeout.min(Duration::from_secs(30)), connect).await {
                Err(_) => return Err(retry("connecting to the realtime API timed out".into())),
                Ok(Err(e)) => return Err(refused(e, &redact)),
                Ok(Ok(pair)) => pair,
            };
        let mut conn = Connection {
            ws,
            opened: Instant::now(),
            voice: String::new(),
            speed: 0.0,
        };
        let deadline = Instant::now() + timeout;
        conn.wait_for(deadline, |e| matches!(e, Event::SessionCreated), &redact)
            .await?;
        conn.configure(voice, speed, deadline, &redact).await?;
        Ok(conn)
    }

    /// Whether this session is young enough for another piece.
    pub fn fresh(&self, limit: Duration) -> bool {
        self.opened.elapsed() < limit
    }

    /// Sets the session's voice and speed if they differ from what it has.
    pub async fn configure(
        &mut self,
        voice: &str,
        speed: f64,
        deadline: Instant,
        redact: &Redactor<'_>,
    ) -> Result<(), SpeechError> {
        if self.voice == voice && self.speed == speed {
            return Ok(());
        }
        self.send(&session::update(voice, speed), redact).await?;
        self.wait_for(deadline, |e| matches!(e, Event::SessionUpdated), redact)
            .await?;
        voice.clone_into(&mut self.voice);
        self.speed = speed;
        Ok(())
    }

    /// Sends one client event.
    pub async fn send(&mut self, event: &Value, redact: &Redactor<'_>) -> Result<(), SpeechError> {
        self.ws
            .send(Message::text(event.to_string()))
            .await
            .map_err(|e| retry(redact.text(&format!("realtime connection dropped: {e}"))))
    }

    /// The next server event before `deadline`. A closed or broken connection, or the deadline,
    /// is a retryable error (the connection is then dropped by the caller).
    pub async fn next(
        &mut self,
        deadline: Instant,
        redact: &Redactor<'_>,
    ) -> Result<Event, SpeechError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return Err(retry("realtime response timed out".into())),
                Ok(None) => return Err(retry("realtime connection closed mid-response".into())),
                Ok(Some(Err(e))) => {
                    return Err(retry(
                        redact.text(&format!("realtime connection dropped mid-response: {e}")),
                    ));
                }
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => return Ok(events::parse(text.as_str())),
                Message::Close(frame) => {
                    let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    return Err(retry(redact.text(&format!(
                        "realtime connection closed mid-response{}",
                        if why.is_empty() {
                            String::new()
                        } else {
                            format!(": {why}")
                        }
                    ))));
                }
                // Pings are answered by tungstenite on the next read; binary frames are not
                // part of this API.
                _ => {}
            }
        }
    }

    /// Reads events until one `wanted` arrives; an `error` event first is its error.
    async fn wait_for(
        &mut self,
        deadline: Instant,
        wanted: impl Fn(&Event) -> bool,
        redact: &Redactor<'_>,
    ) -> Result<(), SpeechError> {
        loop {
            match self.next(deadline, redact).await? {
                Event::Error(e) => return Err(redact_error(e, redact)),
                event if wanted(&event) => return Ok(()),
                _ => {}
            }
        }
    }

    /// Closes the socket politely (best effort).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// The same error with the key taken out of its words.
pub fn redact_error(error: SpeechError, redact: &Redactor<'_>) -> SpeechError {
    match error {
        SpeechError::Retryable {
            reason,
            after,
            rate_limited,
        } => SpeechError::Retryable {
            reason: redact.text(&reason),
            after,
            rate_limited,
        },
        SpeechError::ItemFailed(m) => SpeechError::ItemFailed(redact.text(&m)),
        SpeechError::RunStopped(m) => SpeechError::RunStopped(redact.text(&m)),
        other => other,
    }
}

/// A connection that was not made: a refused upgrade is classed by its status as an HTTP
/// answer; a socket that could not be opened is no answer (the outage rule); an untrusted
/// certificate stops the run.
fn refused(error: tungstenite::Error, redact: &Redactor<'_>) -> SpeechError {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            let body = response.body().as_deref().unwrap_or_default();
            let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let error = value.get("error").unwrap_or(&Value::Null);
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
            let code = error.get("code").and_then(Value::as_str).unwrap_or("");
            let said = redact.text(&format!(
                "{} {}: {message}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ));
            match status.as_u16() {
                401 | 403 => SpeechError::RunStopped(said),
                // No such model (or no such endpoint) at this base URL: every piece would fail.
                404 => SpeechError::RunStopped(format!(
                    "{said} (the realtime endpoint or the model is not there; check --base-url and --model)"
                )),
                429 if code == "insufficient_quota" => SpeechError::RunStopped(said),
                429 => SpeechError::Retryable {
                    after: crate::provider::hints::retry_after_in(&message),
                    reason: said,
                    rate_limited: true,
                },
                408 | 409 | 500..=599 => retry(said),
                _ => SpeechError::ItemFailed(said),
            }
        }
        tungstenite::Error::Io(e) => {
            SpeechError::Unreachable(redact.text(&format!("cannot connect: {e}")))
        }
        tungstenite::Error::Tls(e) => SpeechError::Certificate(
            redact.text(&format!("the server's TLS certificate is not trusted: {e}")),
        ),
        other => retry(redact.text(&format!("realtime handshake failed: {other}"))),
    }
}
