//! The persistent-server-error rule: when attempt after attempt, across all workers, fails with
//! the same server error and none succeeds in between (a local server that answers 503 "no
//! default voice" to everything), the run stops after [`STREAK_ATTEMPTS`] of them (exit 3,
//! items pending, the message quoted) instead of spending every item's attempts.

use std::sync::Mutex;

/// How many attempts in a row may fail with the same server error before the run stops.
pub const STREAK_ATTEMPTS: u32 = 5;

/// The server error the last attempts failed with, and how many in a row.
#[derive(Default)]
pub struct ErrorStreak {
    last: Mutex<Option<(String, u32)>>,
}

impl ErrorStreak {
    /// An attempt succeeded: the streak is over.
    pub fn succeeded(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = None;
        }
    }

    /// An attempt failed with a server error `said` (its status and message); `true` when this
    /// is the [`STREAK_ATTEMPTS`]th in a row with the very same words.
    pub fn failed(&self, said: &str) -> bool {
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        let count = match last.as_mut() {
            Some((message, count)) if message == said => {
                *count = count.saturating_add(1);
                *count
            }
            _ => {
                *last = Some((said.to_string(), 1));
                1
            }
        };
        count >= STREAK_ATTEMPTS
    }
}

/// Whether a retryable failure is a server's own error answer (a 5xx status with its message),
/// as the speech client words it: `503 Service Unavailable: ...`. Network failures, cut-off
/// bodies and rate limits are not: they pass.
pub fn is_server_error(reason: &str) -> bool {
    let bytes = reason.as_bytes();
    bytes.len() > 3
        && bytes[0] == b'5'
        && bytes[1].is_ascii_digit()
        && bytes[2].is_ascii_digit()
        && bytes[3] == b' '
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_error_in_a_row_stops_and_a_success_resets() {
        let streak = ErrorStreak::default();
        for _ in 1..STREAK_ATTEMPTS {
            assert!(!streak.failed("503 Service Unavailable: no default voice"));
        }
        streak.succeeded();
        for _ in 1..STREAK_ATTEMPTS {
            assert!(!streak.failed("503 Service Unavailable: no default voice"));
        }
        assert!(!streak.failed("500 Internal Server Error: other"));
        for _ in 1..STREAK_ATTEMPTS {
            assert!(!streak.failed("503 Service Unavailable: no default voice"));
        }
        assert!(streak.failed("503 Service Unavailable: no default voice"));
        assert!(is_server_error("503 Service Unavailable: x"));
        assert!(!is_server_error("request timed out"));
        assert!(!is_server_error("429 Too Many Requests: slow down"));
    }
}
