//! The OpenAI-compatible speech API client: one request, streamed to a file, and the class of
//! every failure. Classification happens once, here, so the workers only decide *when* to try
//! again.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::io::AsyncWriteExt;

#[cfg(test)]
use super::hints::MAX_HINT;
use super::hints::{rate_hints, retry_after};
use super::{Fetched, SpeechError, SpeechRequest};
use crate::audio;
use crate::config::ApiKey;
use crate::domain::{AudioFormat, LocalError};
use crate::provider::encode::{API_RATE, Samples, resample};

pub mod transcription;

/// How much of an error body we read to find the server's message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The one HTTP client of a run, shared by all workers (keep-alive, one TLS setup per host).
#[derive(Clone)]
pub struct SpeechClient {
    http: reqwest::Client,
    endpoint: String,
    /// None for a local server that needs no key: then no `Authorization` header is sent.
    key: Option<ApiKey>,
    /// What to do when the server says a model it shut down is gone (SPEC section 10).
    shutdown_advice: Option<String>,
}

/// The bytes of an answer held in memory before it goes to disk (per request in flight).
const BODY_BUFFER: usize = 256 * 1024;

/// The HTTP client of one endpoint (speech or transcription): our user agent, the request
/// and connect timeouts, and an idle connection kept per worker.
fn http_client(timeout: Duration, concurrency: usize) -> reqwest::Result<reqwest::Client> {
    // reqwest is built without a default crypto provider, so that ring (small, no C build
    // tools) serves TLS; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("tts-batch/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(30)))
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
}

impl SpeechClient {
    /// A client for `{base_url}/audio/speech`.
    pub fn new(
        base_url: &str,
        key: Option<ApiKey>,
        timeout: Duration,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let http = http_client(timeout, concurrency)?;
        Ok(SpeechClient {
            http,
            endpoint: format!("{base_url}/audio/speech"),
            key,
            shutdown_advice: None,
        })
    }

    /// The advice the run stops with when the server answers that a model with a known
    /// shutdown date is gone.
    pub fn with_shutdown_advice(mut self, advice: String) -> SpeechClient {
        self.shutdown_advice = Some(advice);
        self
    }

    /// Sends one request and streams a successful body into `dest` (created or truncated),
    /// flushed but not synced (the store's group sync does that, for many answers at once).
    /// The body is accepted only if it is 200, non-empty, as long as its Content-Length says,
    /// and starts like `format`.
    pub async fn fetch(
        &self,
        req: &SpeechRequest<'_>,
        dest: &Path,
    ) -> Result<Fetched, SpeechError> {
        let mut post = self.http.post(&self.endpoint);
        if let Some(key) = &self.key {
            post = post.bearer_auth(key.expose());
        }
        let response = post
            .json(req)
            .send()
            .await
            .map_err(|e| self.unanswered(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let hints = rate_hints(&headers);
        if status != StatusCode::OK {
            let body = self.read_limited(response).await;
            return Err(self.model_gone(req.model, self.classify(status, &headers, &body)));
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
        let bytes = match pcm_rate(req.response_format, &headers) {
            Some(rate) => to_api_rate(dest, rate).await?,
            None => bytes,
        };
        Ok(Fetched {
            bytes,
            hints,
            ..Fetched::default()
        })
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
        let local = |e| SpeechError::Local(LocalError::at(dest)(e));
        let mut body = head;
        if let Some(rest) = first_rest {
            body.extend_from_slice(&rest);
        }
        // Most answers fit the buffer whole: written with one trip to the blocking pool, not
        // one per file call (which, on a busy machine, each wait for a time slice).
        while body.len() < BODY_BUFFER {
            match stream.next().await {
                Some(Ok(chunk)) => body.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(self.network_error(&e)),
                None => {
                    let (bytes, path) = (body.len() as u64, dest.to_path_buf());
                    tokio::task::spawn_blocking(move || std::fs::write(path, body))
                        .await
                        .map_err(|e| SpeechError::Local(LocalError::new("saving audio", e)))?
                        .map_err(local)?;
                    return Ok(bytes);
                }
            }
        }
        // A longer answer streams on through the file, the buffer's worth at a time.
        let file = tokio::fs::File::create(dest).await.map_err(local)?;
        let mut out = tokio::io::BufWriter::with_capacity(BODY_BUFFER, file);
        out.write_all(&body).await.map_err(local)?;
        let mut bytes = body.len() as u64;
        drop(body);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.network_error(&e))?;
            out.write_all(&chunk).await.map_err(local)?;
            bytes += chunk.len() as u64;
        }
        out.flush().await.map_err(local)?;
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
        classify_answer(status, headers, body, &|t| self.redact(t))
    }

    /// A refusal of a model whose shutdown date is known (404, `model_not_found`, "does not
    /// exist", "deprecated", "shut down") stops the run with the advice, instead of failing
    /// every item one by one.
    fn model_gone(&self, model: &str, error: SpeechError) -> SpeechError {
        let SpeechError::ItemFailed(said) = &error else {
            return error;
        };
        let Some(date) = crate::plan::prices::shutdown_date(model) else {
            return error;
        };
        let lower = said.to_ascii_lowercase();
        // The API words it "The model `tts-1` does not exist or you do not have access to it."
        // (404, code `model_not_found`); other refusals of a 404 are about the text.
        let gone = lower.contains("model")
            && [
                "not found",
                "does not exist",
                "deprecated",
                "shut down",
                "no longer",
            ]
            .iter()
            .any(|w| lower.contains(w));
        if !gone {
            return error;
        }
        let advice = self.shutdown_advice.as_deref().unwrap_or(
            "switch with --provider realtime (every item is spoken again in a new voice), or keep the model through a relay or a local server (--base-url)",
        );
        SpeechError::RunStopped(format!(
            "{said}: `{model}` was shut down at OpenAI on {date}; {advice}"
        ))
    }

    /// A request that got no response at all: see [`no_answer`].
    fn unanswered(&self, e: &reqwest::Error) -> SpeechError {
        no_answer(e, &|t| self.redact(t))
    }

    fn network_error(&self, e: &reqwest::Error) -> SpeechError {
        network_failure(e, &|t| self.redact(t))
    }

    /// The key never leaves in a message, whatever a server echoes back.
    fn redact(&self, text: &str) -> String {
        redact_key(self.key.as_ref(), text)
    }
}

/// A server's words with the key taken out, cut to 300 characters.
fn redact_key(key: Option<&ApiKey>, text: &str) -> String {
    let key = key.map_or("", |k| k.expose());
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

/// Sorts a non-200 answer into the class that decides what happens next; `redact` cleans
/// the server's words.
fn classify_answer(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    redact: &dyn Fn(&str) -> String,
) -> SpeechError {
    let error = ApiError::parse(body);
    let message = redact(&error.message.clone().unwrap_or_else(|| describe_body(body)));
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

/// A request that got no response at all. A timeout is retried as usual (the server may be
/// slow, not gone); a certificate error stops the run; anything else (refused, reset, DNS) is
/// no answer, which the pool counts towards an outage.
fn no_answer(e: &reqwest::Error, redact: &dyn Fn(&str) -> String) -> SpeechError {
    if e.is_timeout() {
        return network_failure(e, redact);
    }
    if let Some(tls) = tls_certificate_error(e) {
        return SpeechError::Certificate(redact(&format!(
            "the server's TLS certificate is not trusted: {tls}"
        )));
    }
    let what = if e.is_connect() {
        format!("cannot connect: {}", root_cause(e))
    } else {
        format!("no answer: {}", root_cause(e))
    };
    SpeechError::Unreachable(redact(&what))
}

/// A request that failed on the way: retried.
fn network_failure(e: &reqwest::Error, redact: &dyn Fn(&str) -> String) -> SpeechError {
    let what = if e.is_timeout() {
        "request timed out".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {}", root_cause(e))
    } else if e.is_body() || e.is_decode() {
        format!("response body broken off: {}", root_cause(e))
    } else {
        format!("request failed: {}", root_cause(e))
    };
    retry(redact(&what))
}

/// The rate a `pcm` answer states in `X-Sample-Rate` (a local Piper server answers 22050), when
/// it is not the API's 24 kHz. Rates outside 8 to 192 kHz are no statement: ignored.
fn pcm_rate(format: AudioFormat, headers: &HeaderMap) -> Option<u32> {
    if format != AudioFormat::Pcm {
        return None;
    }
    let rate: u32 = headers
        .get("x-sample-rate")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    ((8_000..=192_000).contains(&rate) && rate != API_RATE).then_some(rate)
}

/// Rewrites the raw PCM in `dest`, spoken at `rate`, at the API's 24 kHz: `pcm` means 24 kHz
/// everywhere in a run (joins, pauses, lengths, the book file), so an answer at another rate is
/// taken at its own rate and converted once, here. Returns the new length in bytes.
async fn to_api_rate(dest: &Path, rate: u32) -> Result<u64, SpeechError> {
    let path = dest.to_path_buf();
    let local = move |e| SpeechError::Local(LocalError::at(&path)(e));
    let path = dest.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let raw = std::fs::read(&path).map_err(&local)?;
        let samples = raw
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let converted = resample(&Samples { rate, samples }, API_RATE);
        let bytes: Vec<u8> = converted
            .samples
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let mut file = std::fs::File::create(&path).map_err(&local)?;
        std::io::Write::write_all(&mut file, &bytes).map_err(&local)?;
        Ok(u64::try_from(bytes.len()).unwrap_or(u64::MAX))
    })
    .await
    .map_err(|e| SpeechError::Local(LocalError::new("converting pcm", e)))?
}

fn retry(reason: impl Into<String>) -> SpeechError {
    SpeechError::Retryable {
        reason: reason.into(),
        after: None,
        rate_limited: false,
    }
}

/// The rustls certificate error somewhere in an error's chain of causes, if there is one.
fn tls_certificate_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(tls) = err.downcast_ref::<rustls::Error>()
            && matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        {
            return Some(tls.to_string());
        }
        // hyper and reqwest wrap I/O errors whose inner error is the rustls one.
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
            && matches!(tls, rustls::Error::InvalidCertificate(_))
        {
            return Some(tls.to_string());
        }
        // Some wrappers on the way (I/O errors among them) hide the rustls error from
        // `source()` but keep its words; rustls words every certificate error this way.
        let said = err.to_string();
        if let Some(at) = said.find("invalid peer certificate") {
            return said.get(at..).map(str::to_owned);
        }
        cause = err.source();
    }
    None
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
        // FastAPI servers (local Whisper) put it under `detail`.
        let error = value
            .get("error")
            .or_else(|| value.pointer("/detail/error"))
            .unwrap_or(&value);
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
    let text = String::from_utf8_lossy(body.get(..4096).unwrap_or(body));
    if let Some(title) = html_title(&text) {
        return format!("HTML page \"{title}\"");
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

/// The text of an HTML page's `<title>`, whole. The tags are found without changing the text's
/// case (lowercasing can change a text's length, `K` U+212A to `k`), so the offsets are the
/// original's.
fn html_title(text: &str) -> Option<&str> {
    let open = find_ascii_ci(text, "<title>", 0)? + "<title>".len();
    let close = find_ascii_ci(text, "</title>", open)?;
    Some(text.get(open..close)?.trim())
}

/// The byte offset of `needle` (ASCII) in `hay` at or after `from`, ignoring ASCII case. An
/// ASCII match always starts and ends on a character boundary.
fn find_ascii_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let tail = hay.get(from..)?;
    tail.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|at| at + from)
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
        let key = cfg.api_key(&env).ok();
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
    #[test]
    fn titles_are_quoted_whole_whatever_lowercasing_does_to_them() {
        let page = "<html><head><TITLE>\u{212A}\u{212A}€ bad gateway</Title></head></html>";
        assert_eq!(
            describe_body(page.as_bytes()),
            "HTML page \"\u{212A}\u{212A}€ bad gateway\""
        );
        let before = "<p>\u{212A}\u{212A}\u{212A}</p><title>İstanbul down</title>";
        assert_eq!(
            describe_body(before.as_bytes()),
            "HTML page \"İstanbul down\""
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Header values as servers might send them: numbers of every shape, durations, junk.
        fn hint_value() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<f64>().prop_map(|f| f.to_string()),
                any::<i128>().prop_map(|n| n.to_string()),
                "[0-9.eE+-]{0,30}",
                "([0-9]{1,25}(\\.[0-9]{0,5})?(ms|s|m|h)){1,4}",
                "[ -~]{0,40}",
            ]
        }

        /// Bodies: JSON errors, HTML pages with odd titles, arbitrary bytes.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                ".{0,80}".prop_map(|m| {
                    serde_json::json!({"error": {"message": m, "type": "requests", "code": "rate_limit_exceeded"}})
                        .to_string()
                        .into_bytes()
                }),
                (".{0,40}", ".{0,40}").prop_map(|(a, t)| {
                    format!("{a}<TiTlE>{t}</tItLe>{a}").into_bytes()
                }),
                ".{0,60}".prop_map(|m| format!("{{\"error\": {m:?}}} try again in {m}").into_bytes()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// Whatever a server answers (status, headers, body), the parsers return a class
            /// and a capped wait; they never panic.
            #[test]
            fn any_answer_is_classified_without_panic(
                status in 100u16..1000,
                names in proptest::collection::vec(prop_oneof![
                    Just("retry-after"), Just("retry-after-ms"),
                    Just("x-ratelimit-limit-requests"), Just("x-ratelimit-remaining-requests"),
                    Just("x-ratelimit-reset-requests"), Just("content-type"),
                ], 0..6),
                values in proptest::collection::vec(hint_value(), 6),
                body in body(),
            ) {
                let c = client();
                let mut headers = HeaderMap::new();
                for (name, value) in names.iter().zip(&values) {
                    if let Ok(value) = value.parse() {
                        headers.insert(*name, value);
                    }
                }
                let Ok(status) = StatusCode::from_u16(status) else { return Ok(()) };
                let class = c.classify(status, &headers, &body);
                prop_assert!(!class.to_string().is_empty() || body.is_empty());
                let hints = rate_hints(&headers);
                prop_assert!(hints.reset_requests.is_none_or(|r| r <= MAX_HINT));
                let _ = describe_body(&body);
                let _ = retry_after(&headers, &String::from_utf8_lossy(&body));
            }
        }
    }
}
