//! The server events a piece waits for, read defensively: any field may be missing, of the
//! wrong type or hostile, and none of it may panic. `error` events and failed responses are
//! classed as the HTTP errors are: retry (with the server's hint), fail the item, or stop the
//! run.

use std::time::Duration;

use serde_json::Value;

use crate::plan::prices::Usage;
use crate::provider::hints::{MAX_HINT, parse_duration, retry_after_in};
use crate::provider::{RateHints, SpeechError};

/// One server event, as far as a piece cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    SessionCreated,
    SessionUpdated,
    ResponseCreated,
    /// Base64 PCM of `response.output_audio.delta`.
    AudioDelta(String),
    /// `response.output_audio_transcript.done`: what the voice said.
    Transcript(String),
    /// `response.done`: how the response ended and what it used.
    Done(Done),
    /// `rate_limits.updated`, as the pacer reads rate headers.
    RateLimits(RateHints),
    /// An `error` event, classed.
    Error(SpeechError),
    /// Anything else (deltas of the transcript, items, content parts, ...).
    Other,
}

/// `response.done`'s response: its status and usage.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub status: String,
    /// Why it did not complete, in words (`status_details`).
    pub details: String,
    /// The error code of a failed response, if any.
    pub code: Option<String>,
    pub usage: Option<Usage>,
}

/// Reads one text frame. A frame that is not JSON is `Other` (ignored), never a panic.
pub fn parse(text: &str) -> Event {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Event::Other;
    };
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "session.created" => Event::SessionCreated,
        "session.updated" => Event::SessionUpdated,
        "response.created" => Event::ResponseCreated,
        "response.output_audio.delta" => match value.get("delta").and_then(Value::as_str) {
            Some(delta) => Event::AudioDelta(delta.to_string()),
            None => Event::Other,
        },
        "response.output_audio_transcript.done" => Event::Transcript(
            value
                .get("transcript")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        "response.done" => Event::Done(done(value.get("response").unwrap_or(&Value::Null))),
        "rate_limits.updated" => Event::RateLimits(rate_limits(&value)),
        "error" => Event::Error(error(value.get("error").unwrap_or(&Value::Null))),
        _ => Event::Other,
    }
}

fn text_of(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

fn count(value: &Value, path: &[&str]) -> Option<u64> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_u64()
}

fn done(response: &Value) -> Done {
    let details = response.get("status_details").unwrap_or(&Value::Null);
    let error = details.get("error").unwrap_or(&Value::Null);
    let reason = text_of(details, "reason");
    let message = text_of(error, "message");
    let code = text_of(error, "code").or_else(|| text_of(error, "type"));
    let words = [reason, code.clone(), message]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    Done {
        status: text_of(response, "status").unwrap_or_default(),
        details: words,
        code,
        usage: response.get("usage").and_then(usage),
    }
}

/// The billed tokens of a `usage` object. Without its details (some servers send only the
/// totals) the input is taken as text and the output as audio, the dearer reading of each.
fn usage(usage: &Value) -> Option<Usage> {
    let input = count(usage, &["input_tokens"]);
    let output = count(usage, &["output_tokens"]);
    if input.is_none() && output.is_none() {
        return None;
    }
    let detail = |path: &[&str]| count(usage, path);
    let text_input = detail(&["input_token_details", "text_tokens"]);
    let audio_input = detail(&["input_token_details", "audio_tokens"]).unwrap_or(0);
    let cached_text = detail(&[
        "input_token_details",
        "cached_tokens_details",
        "text_tokens",
    ])
    .or_else(|| detail(&["input_token_details", "cached_tokens"]))
    .unwrap_or(0);
    let text_output = detail(&["output_token_details", "text_tokens"]);
    let audio_output = detail(&["output_token_details", "audio_tokens"]);
    let (text_output, audio_output) = match (text_output, audio_output) {
        (None, None) => (0, output.unwrap_or(0)),
        (t, a) => (t.unwrap_or(0), a.unwrap_or(0)),
    };
    let text_input = text_input.unwrap_or_else(|| input.unwrap_or(0).saturating_sub(audio_input));
    Some(Usage {
        text_input,
        cached_text_input: cached_text.min(text_input),
        audio_input,
        text_output,
        audio_output,
    })
}

/// `rate_limits.updated`: the `requests` entry as the pacer's hints.
fn rate_limits(value: &Value) -> RateHints {
    let mut hints = RateHints::default();
    let Some(limits) = value.get("rate_limits").and_then(Value::as_array) else {
        return hints;
    };
    for limit in limits {
        if limit.get("name").and_then(Value::as_str) != Some("requests") {
            continue;
        }
        hints.limit_requests = limit.get("limit").and_then(Value::as_u64);
        hints.remaining_requests = limit.get("remaining").and_then(Value::as_u64);
        hints.reset_requests = limit
            .get("reset_seconds")
            .and_then(|v| {
                v.as_f64()
                    .map(|s| s.to_string())
                    .or(v.as_str().map(str::to_string))
            })
            .and_then(|s| parse_duration(&s))
            .map(|d| d.min(MAX_HINT));
    }
    hints
}

/// The class of an `error` event, by its `code` and `type`: a bad key, no quota or an unknown
/// model stop the run; a rate limit waits (with the message's "try again in"); a server error
/// or an expired session is retried; any other refusal fails the item.
pub fn error(error: &Value) -> SpeechError {
    let code = text_of(error, "code").unwrap_or_default();
    let kind = text_of(error, "type").unwrap_or_default();
    let message = text_of(error, "message").unwrap_or_else(|| "no message".into());
    let said = if code.is_empty() {
        format!("{kind}: {message}")
    } else {
        format!("{code}: {message}")
    };
    classify(&code, &kind, said, &message)
}

/// The class of an error code and type (shared by `error` events and failed responses).
pub fn classify(code: &str, kind: &str, said: String, message: &str) -> SpeechError {
    match (code, kind) {
        ("invalid_api_key" | "insufficient_quota" | "model_not_found", _)
        | (_, "authentication_error" | "permission_error" | "insufficient_quota") => {
            SpeechError::RunStopped(said)
        }
        ("rate_limit_exceeded", _) | (_, "rate_limit_error" | "rate_limit_exceeded") => {
            SpeechError::Retryable {
                after: retry_after_in(message),
                reason: said,
                rate_limited: true,
            }
        }
        ("session_expired" | "server_error" | "", _) | (_, "server_error") => {
            SpeechError::Retryable {
                after: retry_after_in(message).map(|d: Duration| d.min(MAX_HINT)),
                reason: said,
                rate_limited: false,
            }
        }
        _ => SpeechError::ItemFailed(said),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_reads_the_details_and_falls_back_to_totals() {
        let full = json!({"type": "response.done", "response": {"status": "completed", "usage": {
            "total_tokens": 253, "input_tokens": 132, "output_tokens": 121,
            "input_token_details": {"text_tokens": 119, "audio_tokens": 13, "cached_tokens": 64,
                "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0}},
            "output_token_details": {"text_tokens": 30, "audio_tokens": 91}}}});
        let Event::Done(done) = parse(&full.to_string()) else {
            panic!()
        };
        assert_eq!(done.status, "completed");
        let u = done.usage.unwrap();
        assert_eq!(
            (
                u.text_input,
                u.cached_text_input,
                u.audio_input,
                u.text_output,
                u.audio_output
            ),
            (119, 64, 13, 30, 91)
        );
        let totals = json!({"type": "response.done", "response": {"status": "completed",
            "usage": {"input_tokens": 132, "output_tokens": 121}}});
        let Event::Done(done) = parse(&totals.to_string()) else {
            panic!()
        };
        let u = done.usage.unwrap();
        assert_eq!((u.text_input, u.audio_output), (132, 121));
    }

    #[test]
    fn errors_fall_in_the_http_classes() {
        let e = |code: &str, kind: &str, msg: &str| {
            error(&json!({"type": kind, "code": code, "message": msg}))
        };
        assert!(matches!(
            e("invalid_api_key", "invalid_request_error", "x"),
            SpeechError::RunStopped(_)
        ));
        assert!(matches!(
            e("insufficient_quota", "", "x"),
            SpeechError::RunStopped(_)
        ));
        let limited = e("rate_limit_exceeded", "", "Please try again in 1.5s.");
        assert_eq!(
            limited,
            SpeechError::Retryable {
                reason: "rate_limit_exceeded: Please try again in 1.5s.".into(),
                after: Some(Duration::from_millis(1500)),
                rate_limited: true
            }
        );
        assert!(matches!(
            e("", "server_error", "x"),
            SpeechError::Retryable { .. }
        ));
        assert!(matches!(
            e("string_above_max_length", "invalid_request_error", "x"),
            SpeechError::ItemFailed(_)
        ));
    }

    #[test]
    fn hostile_frames_never_panic() {
        for frame in [
            "",
            "{",
            "null",
            "[]",
            r#"{"type": 5}"#,
            r#"{"type":"response.done"}"#,
            r#"{"type":"rate_limits.updated","rate_limits":[{"name":"requests","limit":-1,"reset_seconds":1e300}]}"#,
            r#"{"type":"response.done","response":{"usage":{"input_tokens":1e30,"output_tokens":-4}}}"#,
        ] {
            let _ = parse(frame);
        }
        let Event::RateLimits(h) = parse(
            r#"{"type":"rate_limits.updated","rate_limits":[{"name":"requests","limit":100,"remaining":99,"reset_seconds":1e300}]}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            (h.limit_requests, h.remaining_requests, h.reset_requests),
            (Some(100), Some(99), Some(MAX_HINT))
        );
    }
}
