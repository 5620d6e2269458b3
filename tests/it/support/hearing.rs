//! The fake API's transcription endpoint (`POST /v1/audio/transcriptions`), the pure parts:
//! reading the multipart form, what the "model" hears, and the JSON it answers.
//!
//! The fake server remembers the text of every piece of audio it served (by the audio's
//! bytes), so a transcription of that audio can return the text, or the text with words
//! dropped or swapped, or nothing, as a test asks. It answers as OpenAI does: `json` is
//! `{"text"}`, `verbose_json` adds `segments` (one per sentence) and, when
//! `timestamp_granularities[]` asks for them, `words`, timed by the audio's length spread over
//! the characters; `gpt-4o-*-transcribe` models refuse `verbose_json` with a 400.
//!
//! The multipart reader is written here (a few lines over `split`) rather than taken from a
//! crate: it only has to read what reqwest writes.

// Shared test support, `#[path]`-included by the benchmark too.
#![allow(dead_code)]

use serde_json::{Value, json};

/// What the transcription "model" hears in a piece's audio.
#[derive(Debug, Clone, PartialEq)]
pub enum Hearing {
    /// The piece's text, word for word.
    Text,
    /// The text with every `n`th word dropped (5: a fifth of the words missing).
    DropEvery(usize),
    /// The text with every `n`th word replaced by another.
    SwapEvery(usize),
    /// Nothing at all (`{"text": ""}`), as for a tone or silence.
    Nothing,
    /// An error answer: the status and the message.
    Error(u16, String),
}

/// One field of a multipart form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// The fields of a `multipart/form-data` body whose `Content-Type` is `content_type`; `None`
/// when it is not one.
pub fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<Field>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut fields = Vec::new();
    for part in split(body, &delimiter).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let head_end = part.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..head_end]).to_string();
        let data = &part[head_end + 4..];
        let data = data.strip_suffix(b"\r\n").unwrap_or(data);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        let param = |key: &str| {
            disposition.split(';').map(str::trim).find_map(|p| {
                p.strip_prefix(&format!("{key}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        fields.push(Field {
            name: param("name")?,
            filename: param("filename"),
            data: data.to_vec(),
        });
    }
    Some(fields)
}

fn split<'a>(hay: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        if &hay[i..i + needle.len()] == needle {
            parts.push(&hay[start..i]);
            i += needle.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(&hay[start..]);
    parts
}

/// What the model hears of `text`.
pub fn heard(text: &str, hearing: &Hearing) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    match hearing {
        Hearing::Text => text.to_owned(),
        Hearing::Nothing | Hearing::Error(..) => String::new(),
        Hearing::DropEvery(n) => words
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % n.max(&1) != 0)
            .map(|(_, w)| *w)
            .collect::<Vec<_>>()
            .join(" "),
        Hearing::SwapEvery(n) => words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if (i + 1) % n.max(&1) == 0 {
                    "banana"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The answer's JSON: `{"text"}`, or `verbose_json` with sentence segments and, if `words`,
/// word times, spread over `seconds` by characters.
pub fn answer(text: &str, seconds: f64, verbose: bool, words: bool) -> Value {
    if !verbose {
        return json!({ "text": text });
    }
    let total = text.chars().count().max(1) as f64;
    let at = |chars: usize| (chars as f64 / total * seconds * 1000.0).round() / 1000.0;
    let mut segments = Vec::new();
    let mut word_times = Vec::new();
    let mut offset = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let chars_before = text[..i].chars().count();
        if matches!(c, '.' | '!' | '?') {
            let end = chars_before + 1;
            let piece: String = text.chars().skip(start).take(end - start).collect();
            if !piece.trim().is_empty() {
                segments.push(json!({"id": segments.len(), "start": at(start), "end": at(end), "text": piece}));
            }
            start = end;
        }
    }
    let rest: String = text.chars().skip(start).collect();
    if !rest.trim().is_empty() {
        segments.push(json!({"id": segments.len(), "start": at(start), "end": at(total as usize), "text": rest}));
    }
    if words {
        for word in text.split_whitespace() {
            let begin = text[offset..].find(word).map_or(offset, |p| p + offset);
            let chars_begin = text[..begin].chars().count();
            let chars_end = chars_begin + word.chars().count();
            word_times.push(json!({"word": word, "start": at(chars_begin), "end": at(chars_end)}));
            offset = begin + word.len();
        }
    }
    let mut body = json!({
        "task": "transcribe", "language": "english", "duration": seconds,
        "text": text, "segments": segments,
    });
    if words {
        body["words"] = Value::Array(word_times);
    }
    body
}

/// FNV-1a of audio bytes: how the server finds the text of audio it served.
pub fn audio_id(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in bytes {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
