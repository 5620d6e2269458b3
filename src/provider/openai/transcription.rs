//! The transcription client (SPEC §11): one piece's audio sent to
//! `POST {base}/audio/transcriptions` as multipart (`file`, `model`, `response_format`, the
//! language when known), the answer read as a [`Transcript`] with the segment and word times a
//! server gives.
//!
//! It lives beside the speech client because it is the same API: the same error bodies, the
//! same classes of failure (a 429 is retried with the server's hint, a 401 stops the run), the
//! same redaction of the key. `verify/` scores what it hears; the run decides what to do.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde::Deserialize;

use super::{classify_answer, network_failure, no_answer, redact_key, retry};
use crate::config::ApiKey;
use crate::domain::{AudioFormat, LocalError};
use crate::provider::SpeechError;
use crate::provider::encode::{self, API_RATE, Samples};
use crate::provider::hints::{RateHints, rate_hints};

/// The largest transcription answer read (a piece's transcript is a few kilobytes).
const ANSWER_LIMIT: usize = 8 * 1024 * 1024;

/// A transcription client, shared by every worker of a run.
pub struct TranscriptionClient {
    http: reqwest::Client,
    endpoint: String,
    /// None for a local server that needs no key: then no `Authorization` header is sent.
    key: Option<ApiKey>,
    model: String,
    /// Cleared once the server refuses `verbose_json` (OpenAI's `gpt-4o-*-transcribe` take
    /// only `json` and `text`): from then on `json` is asked for, without timestamps.
    verbose: AtomicBool,
}

/// What a server heard, with the times it gives (seconds from the start of the piece).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// Segment times (`verbose_json`), in order.
    pub segments: Vec<Timed>,
    /// Word times (`timestamp_granularities[]=word`), in order, when the server gives them.
    pub words: Vec<Timed>,
}

/// A stretch of speech and when it is heard.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Timed {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// The answer's JSON: `{"text"}` or `verbose_json` with `segments` and `words`.
#[derive(Deserialize)]
struct Answer {
    text: String,
    #[serde(default)]
    segments: Vec<Segment>,
    #[serde(default)]
    words: Vec<Word>,
}

#[derive(Deserialize)]
struct Segment {
    start: f64,
    end: f64,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct Word {
    start: f64,
    end: f64,
    #[serde(default)]
    word: String,
}

impl TranscriptionClient {
    /// A client for `{base_url}/audio/transcriptions` with `model`.
    pub fn new(
        base_url: &str,
        key: Option<ApiKey>,
        model: &str,
        timeout: Duration,
        concurrency: usize,
    ) -> anyhow::Result<Self> {
        let http = super::http_client(timeout, concurrency)?;
        Ok(TranscriptionClient {
            http,
            endpoint: format!("{base_url}/audio/transcriptions"),
            key,
            model: model.to_string(),
            verbose: AtomicBool::new(true),
        })
    }

    /// Sends the audio file at `path` (a piece in `format`) and reads what was heard. Raw
    /// `pcm` goes as WAV, which every server decodes. `language` is an ISO 639-1 code.
    pub async fn transcribe(
        &self,
        path: &Path,
        format: AudioFormat,
        language: Option<&str>,
    ) -> Result<(Transcript, RateHints), SpeechError> {
        let local = |e| SpeechError::Local(LocalError::at(path)(e));
        let bytes = tokio::fs::read(path).await.map_err(local)?;
        let (bytes, format) = as_sendable(bytes, format)?;
        loop {
            let verbose = self.verbose.load(Ordering::Relaxed);
            let answer = self.send(&bytes, format, language, verbose).await;
            match answer {
                Err(SpeechError::ItemFailed(said))
                    if verbose && said.to_ascii_lowercase().contains("response_format") =>
                {
                    tracing::info!(
                        "the transcription server does not take verbose_json ({said}); asking for json, without timestamps"
                    );
                    self.verbose.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
    }

    async fn send(
        &self,
        bytes: &[u8],
        format: AudioFormat,
        language: Option<&str>,
        verbose: bool,
    ) -> Result<(Transcript, RateHints), SpeechError> {
        let redact = |t: &str| redact_key(self.key.as_ref(), t);
        let file = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(format!("piece.{}", format.extension()))
            .mime_str(format.mime())
            .map_err(|e| SpeechError::Local(LocalError::new("building the request", e)))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text(
                "response_format",
                if verbose { "verbose_json" } else { "json" },
            );
        if verbose {
            form = form
                .text("timestamp_granularities[]", "segment")
                .text("timestamp_granularities[]", "word");
        }
        if let Some(language) = language {
            form = form.text("language", language.to_string());
        }
        let mut post = self.http.post(&self.endpoint).multipart(form);
        if let Some(key) = &self.key {
            post = post.bearer_auth(key.expose());
        }
        let response = post.send().await.map_err(|e| no_answer(&e, &redact))?;
        let status = response.status();
        let headers = response.headers().clone();
        let hints = rate_hints(&headers);
        let body = read_body(response, &redact).await?;
        if status != StatusCode::OK {
            return Err(classify_answer(status, &headers, &body, &redact));
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            retry(redact(&format!(
                "200 response is not a transcription ({e}): {}",
                super::describe_body(&body)
            )))
        })?;
        Ok((answer.into_transcript(), hints))
    }
}

impl Answer {
    /// The transcript, with only the times that make sense (finite, not negative, in order
    /// within a stretch): nothing a server sends can break a subtitle.
    fn into_transcript(self) -> Transcript {
        let sane = |start: f64, end: f64| {
            start.is_finite() && end.is_finite() && start >= 0.0 && end >= start
        };
        Transcript {
            text: self.text,
            segments: self
                .segments
                .into_iter()
                .filter(|s| sane(s.start, s.end))
                .map(|s| Timed {
                    start: s.start,
                    end: s.end,
                    text: s.text,
                })
                .collect(),
            words: self
                .words
                .into_iter()
                .filter(|w| sane(w.start, w.end))
                .map(|w| Timed {
                    start: w.start,
                    end: w.end,
                    text: w.word,
                })
                .collect(),
        }
    }
}

/// Reads an answer's body, up to [`ANSWER_LIMIT`].
async fn read_body(
    response: reqwest::Response,
    redact: &(dyn Fn(&str) -> String + Sync),
) -> Result<Vec<u8>, SpeechError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| network_failure(&e, redact))?;
        body.extend_from_slice(&chunk);
        if body.len() > ANSWER_LIMIT {
            return Err(retry(format!(
                "transcription answer larger than {} MiB",
                ANSWER_LIMIT / (1024 * 1024)
            )));
        }
    }
    Ok(body)
}

/// Raw PCM has no header a server could read: it goes as WAV at the API's rate.
fn as_sendable(bytes: Vec<u8>, format: AudioFormat) -> Result<(Vec<u8>, AudioFormat), SpeechError> {
    if format != AudioFormat::Pcm {
        return Ok((bytes, format));
    }
    let samples = bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let wav = encode::encode(
        &Samples {
            rate: API_RATE,
            samples,
        },
        AudioFormat::Wav,
    )
    .map_err(|e| SpeechError::Local(LocalError::new("pcm as wav", e)))?;
    Ok((wav, AudioFormat::Wav))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_answers_keep_sane_times_only() {
        let body = br#"{"text":" Hello there.","segments":[
            {"id":0,"start":0.0,"end":1.5,"text":" Hello"},
            {"id":1,"start":"NaN","end":2.0,"text":"x"},
            {"id":2,"start":2.0,"end":1.0,"text":"backwards"},
            {"id":3,"start":1.5,"end":2.5,"text":" there."}],
            "words":[{"word":"Hello","start":0.1,"end":0.6},{"word":"there","start":-1,"end":0.2}]}"#;
        // A string where a number belongs fails the whole answer: it is not a transcription.
        assert!(serde_json::from_slice::<Answer>(body).is_err());
        let body = br#"{"text":" Hello there.","segments":[
            {"id":0,"start":0.0,"end":1.5,"text":" Hello"},
            {"id":2,"start":2.0,"end":1.0,"text":"backwards"},
            {"id":3,"start":1.5,"end":2.5,"text":" there."}],
            "words":[{"word":"Hello","start":0.1,"end":0.6},{"word":"there","start":-1,"end":0.2}]}"#;
        let t = serde_json::from_slice::<Answer>(body)
            .unwrap()
            .into_transcript();
        assert_eq!(t.text, " Hello there.");
        assert_eq!(t.segments.len(), 2);
        assert_eq!(t.words.len(), 1);
        let plain = serde_json::from_slice::<Answer>(br#"{"text":"hi"}"#).unwrap();
        assert_eq!(plain.into_transcript().segments, vec![]);
    }

    #[test]
    fn raw_pcm_goes_as_wav() {
        let (wav, format) = as_sendable(vec![0u8; 4800], AudioFormat::Pcm).unwrap();
        assert_eq!(format, AudioFormat::Wav);
        assert!(wav.starts_with(b"RIFF"));
        let (same, format) = as_sendable(b"ID3xyz".to_vec(), AudioFormat::Mp3).unwrap();
        assert_eq!(
            (same.as_slice(), format),
            (&b"ID3xyz"[..], AudioFormat::Mp3)
        );
    }
}
