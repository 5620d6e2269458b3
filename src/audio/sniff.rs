//! What a body is: audio of the format asked for, or an error page saved under an audio name.

use std::path::Path;

use super::AudioError;
use crate::domain::AudioFormat;

/// What a head that is not audio at all looks like, if it does: an error body saved as audio.
pub(super) fn non_audio_kind(head: &[u8]) -> Option<&'static str> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = text.trim_ascii_start();
    match text {
        [b'{', rest @ ..]
            if matches!(rest.trim_ascii_start().first(), Some(b'"' | b'}') | None) =>
        {
            Some("a JSON body")
        }
        [b'<', next, ..] if next.is_ascii_alphabetic() || matches!(next, b'!' | b'?') => {
            Some("an HTML page")
        }
        _ if head.len() >= 4
            && head
                .iter()
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            Some("text")
        }
        _ => None,
    }
}

/// The `NotFormat` error for a file whose head is `head`, saying what it looks like instead.
pub(super) fn not_format(format: AudioFormat, path: &Path, head: &[u8]) -> AudioError {
    let what = match non_audio_kind(head) {
        Some(kind) => {
            let excerpt: String = String::from_utf8_lossy(head)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(60)
                .collect();
            format!("it looks like {kind}: {}", excerpt.trim())
        }
        None => {
            let hex: String = head.iter().take(8).map(|b| format!(" {b:02x}")).collect();
            format!("it starts with bytes{hex}")
        }
    };
    AudioError::NotFormat {
        format,
        path: path.to_path_buf(),
        what,
    }
}
