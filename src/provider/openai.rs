//! The OpenAI-compatible speech API client: one request, streamed to a file, and the class of
//! every failure. Classification happens once, here, so the workers only decide *when* to try
//! again.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::io::AsyncWriteExt;

use super::hints::{rate_hints, retry_after};
use super::{Fetched, SpeechError, SpeechRequest};
use crate::audio;
use crate::config::ApiKey;
use crate::domain::AudioFormat;

/// How much of an error body we read to find the server's message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The one HTTP client of a run, shared by all workers (keep-alive, one TLS setup per host).
#[derive(Clone)]
pub struct SpeechClient {
    http: reqwest::Client,
    endpoint: String,
    key: ApiKey,
}

impl SpeechClient {
    /// A client for `{base_url}/audio/speech`.
    pub fn new(
        base_url: &str,
        key: ApiKey,
        timeout: Duration,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        // reqwest is built without a default crypto provider, so that ring (small, no C build
        // tools) serves TLS; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("tts-batch/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .build()?;
        Ok(SpeechClient {
            http,
            endpoint: format!("{base_url}/audio/speech"),
            key,
        })
    }

    /// Sends one request and streams a successful body into `dest` (created or truncated),
    /// flushed and synced. The body is accepted only if it is 200, non-empty, as long as its
    /// Content-Length says, and starts like `format`.
    pub async fn fetch(
        &self,
        req: &SpeechRequest<'_>,
        dest: &Path,
    ) -> Result<Fetched, SpeechError> {
        let response = self
            .http
            .post(&self.endpoint)
            .bearer_auth(self.key.expose())
            .json(req)
            .send()
            .await
            .map_err(|e| self.network_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let hints = rate_hints(&headers);
        if status != StatusCode::OK {
            let body = self.read_limited(response).await;
            return Err(self.classify(status, &headers, &body));
        }
        let expected = response.content_length();
        let bytes = self.save_body(response, req.response_format, dest).await?;
        if bytes == 0 {
            return Err(retry("200 response with an empty body"));
        }
        if let Some(expected) = expected
            && expected != bytes
        {
            return Err(retry(format!(
                "response body cut short: {bytes} of {expected} bytes"
            )));
        }
        Ok(Fetched { bytes, hints })
    }

    async fn save_body(
        &self,
        response: reqwest::Response,
        format: AudioFormat,
        dest: &Path,
    ) -> Result<u64, SpeechError> {
        let is_text = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/"));
        let mut stream = response.bytes_stream();
        // Hold back the first bytes until we know they are audio, so an error page never
        // reaches the disk under an audio name.
        let mut head: Vec<u8> = Vec::with_capacity(64);
        let mut first_rest = None;
        while head.len() < 64 {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    let take = (64 - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                    if take < chunk.len() {
                        first_rest = Some(chunk.slice(take..));
                        break;
                    }
                }
                Some(Err(e)) => return Err(self.network_error(&e)),
                None => break,
            }
        }
        if head.is_empty() {
            return Ok(0);
        }
        if is_text || !audio::looks_like(format, &head) {
            let mut body = head;
            if let Some(rest) = first_rest {
                body.extend_from_slice(&rest);
            }
            while body.len() < 4096 {
                match stream.next().await {
                    Some(Ok(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            return Err(retry(format!(
                "200 response is not {format} audio: {}",
                self.redact(&describe_body(&body))
            )));
        }
        let local = |e: std::io::Error| SpeechError::Local(format!("{}: {e}", dest.display()));
        let file = tokio::fs::File::create(dest).await.map_err(local)?;
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        out.write_all(&head).await.map_err(local)?;
        let mut bytes = head.len() as u64;
        if let Some(rest) = first_rest {
            out.write_all(&rest).await.map_err(local)?;
            bytes += rest.len() as u64;
        }
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.network_error(&e))?;
            out.write_all(&chunk).await.map_err(local)?;
            bytes += chunk.len() as u64;
        }
        out.flush().await.map_err(local)?;
        out.into_inner().sync_all().await.map_err(local)?;
        Ok(bytes)
    }

    async fn read_limited(&self, response: reqwest::Response) -> Vec<u8> {
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(Ok(chunk)) = stream.next().await {
            body.extend_from_slice(&chunk);
            if body.len() >= ERROR_BODY_LIMIT {
                break;
            }
        }
        body
    }

    /// Sorts a non-200 answer into the class that decides what happens next.
    fn classify(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> SpeechError {
        let error = ApiError::parse(body);
        let message = self.redact(&error.message.clone().unwrap_or_else(|| describe_body(body)));
        let said = format!(
            "{} {}: {message}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let quota = error.code.as_deref() == Some("insufficient_quota")
            || error.kind.as_deref() == Some("insufficient_quota");
        match status.as_u16() {
            401 | 403 => SpeechError::RunStopped(said),
            429 if quota => SpeechError::RunStopped(said),
            429 => SpeechError::Retryable {
                after: retry_after(headers, &message),
                reason: said,
                rate_limited: true,
            },
            408 | 409 | 500..=599 => SpeechError::Retryable {
                after: retry_after(headers, &message),
                reason: said,
                rate_limited: false,
            },
            _ => SpeechError::ItemFailed(said),
        }
    }

    fn network_error(&self, e: &reqwest::Error) -> SpeechError {
        let what = if e.is_timeout() {
            "request timed out".to_string()
        } else if e.is_connect() {
            format!("cannot connect: {}", root_cause(e))
        } else if e.is_body() || e.is_decode() {
            format!("response body broken off: {}", root_cause(e))
        } else {
            format!("request failed: {}", root_cause(e))
        };
        retry(self.redact(&what))
    }

    /// The key never leaves in a message, whatever a server echoes back.
    fn redact(&self, text: &str) -> String {
        let key = self.key.expose();
        let mut s = if key.len() >= 4 {
            text.replace(key, "[redacted]")
        } else {
            text.to_string()
        };
        if s.chars().count() > 300 {
            s = s.chars().take(300).collect::<String>() + "…";
        }
        s
    }
}

fn retry(reason: impl Into<String>) -> SpeechError {
    SpeechError::Retryable {
        reason: reason.into(),
        after: None,
        rate_limited: false,
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The `error` object of an OpenAI-style error body.
#[derive(Debug, Default)]
struct ApiError {
    message: Option<String>,
    kind: Option<String>,
    code: Option<String>,
}

impl ApiError {
    fn parse(body: &[u8]) -> ApiError {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return ApiError::default();
        };
        let error = value.get("error").unwrap_or(&value);
        let text = |k: &str| error.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match error {
            serde_json::Value::String(s) => ApiError {
                message: Some(s.clone()),
                ..ApiError::default()
            },
            _ => ApiError {
                message: text("message"),
                kind: text("type"),
                code: text("code"),
            },
        }
    }
}

/// A body that is not audio, in a few words: the error message of a JSON body, the title of an
/// HTML page, or its first line.
fn describe_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "empty body".into();
    }
    if let Some(message) = ApiError::parse(body).message {
        return message;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let lower = text.to_lowercase();
    if let (Some(a), Some(b)) = (lower.find("<title>"), lower.find("</title>"))
        && a + 7 <= b
    {
        return format!("HTML page \"{}\"", text[a + 7..b].trim());
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if first.chars().all(|c| !c.is_control()) && !first.is_empty() {
        first.chars().take(120).collect()
    } else {
        format!("{} bytes of something else", body.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::hints::parse_duration;

    fn client() -> SpeechClient {
        let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-test-secret-key".to_string());
        let cfg = crate::config::Config::from_args(
            &crate::cli::JobArgs {
                input: "a.txt".into(),
                ..Default::default()
            },
            &env,
        )
        .unwrap();
        let key = cfg.api_key(&env).unwrap();
        SpeechClient::new("http://127.0.0.1:9/v1", key, Duration::from_secs(5), 1).unwrap()
    }

    fn body(code: Option<&str>, kind: &str, message: &str) -> Vec<u8> {
        serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn statuses_fall_into_their_classes() {
        let c = client();
        let h = HeaderMap::new();
        let class =
            |status: u16, b: &[u8]| c.classify(StatusCode::from_u16(status).unwrap(), &h, b);
        assert!(
            matches!(class(400, &body(None, "invalid_request_error", "bad voice")), SpeechError::ItemFailed(m) if m.contains("bad voice"))
        );
        for s in [404, 413, 422] {
            assert!(matches!(class(s, b"{}"), SpeechError::ItemFailed(_)), "{s}");
        }
        for s in [401, 403] {
            assert!(matches!(class(s, b"{}"), SpeechError::RunStopped(_)), "{s}");
        }
        let quota = body(
            Some("insufficient_quota"),
            "insufficient_quota",
            "You exceeded your current quota",
        );
        assert!(matches!(class(429, &quota), SpeechError::RunStopped(_)));
        let rate = body(
            Some("rate_limit_exceeded"),
            "requests",
            "Rate limit reached. Please try again in 20s.",
        );
        assert_eq!(
            class(429, &rate),
            SpeechError::Retryable {
                reason: "429 Too Many Requests: Rate limit reached. Please try again in 20s."
                    .into(),
                after: Some(Duration::from_secs(20)),
                rate_limited: true
            }
        );
        for s in [408, 409, 500, 502, 503] {
            assert!(
                matches!(
                    class(s, b"<html>"),
                    SpeechError::Retryable {
                        rate_limited: false,
                        ..
                    }
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn the_key_is_redacted_from_server_messages() {
        let c = client();
        let echo = body(
            None,
            "invalid_request_error",
            "bad key sk-test-secret-key given",
        );
        let err = c.classify(StatusCode::UNAUTHORIZED, &HeaderMap::new(), &echo);
        assert!(!err.to_string().contains("sk-test-secret-key"), "{err}");
        assert!(err.to_string().contains("[redacted]"));
    }

    #[test]
    fn retry_hints_are_read_in_every_form() {
        let mut h = HeaderMap::new();
        assert_eq!(
            retry_after(&h, "Please try again in 1.5s."),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&h, "try again in 120ms"),
            Some(Duration::from_millis(120))
        );
        assert_eq!(
            retry_after(&h, "Try again in 1m2s."),
            Some(Duration::from_secs(62))
        );
        assert_eq!(retry_after(&h, "no hint"), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h, ""), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h, ""), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn bodies_are_described_briefly() {
        assert_eq!(describe_body(b""), "empty body");
        assert_eq!(describe_body(&body(None, "x", "boom")), "boom");
        assert_eq!(
            describe_body(b"<html><head><title>502 Bad Gateway</title></head></html>"),
            "HTML page \"502 Bad Gateway\""
        );
    }
}
