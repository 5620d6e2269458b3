//! What a response says about when to try again and how fast to go: `retry-after` headers
//! and messages, and the `x-ratelimit-*` headers.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// The rate-limit headers of a response, when the server sends them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateHints {
    pub limit_requests: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub reset_requests: Option<Duration>,
}

/// The server's hint of when to try again: `retry-after-ms`, `retry-after` (seconds), or
/// "try again in 1.5s" / "in 20ms" / "in 1m2s" inside the message.
pub fn retry_after(headers: &HeaderMap, message: &str) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<f64>().ok())
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let lower = message.to_lowercase();
    let at = lower.find("try again in")? + "try again in".len();
    let rest = lower[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    parse_duration(rest[..end].trim_end_matches('.'))
}

/// Parses durations as the API writes them: `12ms`, `1.5s`, `6m0s`, `1h2m3s`, `20` (seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0.0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total))
}

pub fn rate_hints(headers: &HeaderMap) -> RateHints {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    RateHints {
        limit_requests: header("x-ratelimit-limit-requests").and_then(|v| v.trim().parse().ok()),
        remaining_requests: header("x-ratelimit-remaining-requests")
            .and_then(|v| v.trim().parse().ok()),
        reset_requests: header("x-ratelimit-reset-requests").and_then(parse_duration),
    }
}
