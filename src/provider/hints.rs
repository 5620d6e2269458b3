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

/// The longest wait any server hint may impose (the README's five minutes): hints are capped
/// to it where they are used, and rate-limit resets where they are parsed.
pub const MAX_HINT: Duration = Duration::from_secs(300);

/// A number of seconds a server sent, as a duration: `None` for NaN, infinities and negative
/// numbers (a broken hint is no hint); a number too large for a `Duration` saturates, so a
/// hostile `1e20` is "very long" (and then capped), never a panic.
fn hint_seconds(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// The server's hint of when to try again: `retry-after-ms`, `retry-after` (seconds), or
/// "try again in 1.5s" / "in 20ms" / "in 1m2s" inside the message. Broken hints are ignored;
/// huge ones saturate (the caller caps them at [`MAX_HINT`]).
pub fn retry_after(headers: &HeaderMap, message: &str) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && let Some(wait) = hint_seconds(ms / 1000.0)
    {
        return Some(wait);
    }
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<f64>().ok())
        && let Some(wait) = hint_seconds(secs)
    {
        return Some(wait);
    }
    retry_after_in(message)
}

/// The "try again in 1.5s" / "in 20ms" / "in 1m2s" of a message (a Realtime `error` event has
/// no headers). Broken hints are ignored; huge ones saturate.
pub fn retry_after_in(message: &str) -> Option<Duration> {
    // ASCII lowercasing keeps every byte offset of the message valid.
    let lower = message.to_ascii_lowercase();
    let at = lower.find("try again in")? + "try again in".len();
    let rest = lower.get(at..)?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    parse_duration(rest.get(..end)?.trim_end_matches('.'))
}

/// Parses durations as the API writes them: `12ms`, `1.5s`, `6m0s`, `1h2m3s`, `20` (seconds).
/// Garbage, negative and non-finite values are `None`; huge ones saturate.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<f64>() {
        return hint_seconds(secs);
    }
    let mut total = 0.0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest.get(..num_end)?.parse().ok()?;
        rest = rest.get(num_end..)?;
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match rest.get(..unit_end)? {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = rest.get(unit_end..)?;
    }
    hint_seconds(total)
}

pub fn rate_hints(headers: &HeaderMap) -> RateHints {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    RateHints {
        limit_requests: header("x-ratelimit-limit-requests").and_then(|v| v.trim().parse().ok()),
        remaining_requests: header("x-ratelimit-remaining-requests")
            .and_then(|v| v.trim().parse().ok()),
        reset_requests: header("x-ratelimit-reset-requests")
            .and_then(parse_duration)
            .map(|reset| reset.min(MAX_HINT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_hints_are_ignored_or_saturate_never_panic() {
        let header = |name: &'static str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            h
        };
        for value in ["1e20", "99999999999999999999", "1e300"] {
            let hint = retry_after(&header("retry-after", value), "").unwrap();
            assert!(hint > MAX_HINT, "{value}");
        }
        for value in ["-5", "NaN", "inf", "-inf", "garbage", ""] {
            assert_eq!(
                retry_after(&header("retry-after", value), ""),
                None,
                "{value}"
            );
            assert_eq!(
                retry_after(&header("retry-after-ms", value), ""),
                None,
                "{value}"
            );
        }
        let reset = header("x-ratelimit-reset-requests", "99999999999999999999h");
        assert_eq!(rate_hints(&reset).reset_requests, Some(MAX_HINT));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(
            retry_after(&HeaderMap::new(), "\u{212A}\u{212A} try again in 2s"),
            Some(Duration::from_secs(2))
        );
    }
}
