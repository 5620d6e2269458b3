//! Hearing pieces back during a run and in `tts-batch verify` (SPEC §11): which pieces are
//! sampled, the transcription request with its own pacer and retries, the score against the
//! piece's text, and the pass over done pieces not yet heard (a `verify`, or pieces a killed
//! run left unheard).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sha2::Digest;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::domain::AudioFormat;
use crate::error::{Error, StopReason};
use crate::plan::prices::is_loopback;
use crate::provider::SpeechError;
use crate::provider::hints::MAX_HINT;
use crate::provider::openai::transcription::{Timed, Transcript, TranscriptionClient};
use crate::queue::{self, HeardPiece};
use crate::run::pacer::Pacer;
use crate::verify::{self, Score};

/// Attempts of one transcription before the piece is kept unheard.
const HEAR_ATTEMPTS: u32 = 3;

/// What a run hears pieces back with.
pub struct Hearing {
    client: TranscriptionClient,
    /// Transcription requests have their own pace: the server's hints and 429s for them never
    /// hold up speech requests.
    pacer: Pacer,
    pub max_wer: f64,
    sample: f64,
    pub strict: bool,
    /// US dollars per minute of audio heard (0 for a loopback server).
    price_per_minute: f64,
}

/// A piece heard back: its score and what the queue keeps.
#[derive(Debug, Clone)]
pub struct Heard {
    pub score: Score,
    pub stored: HeardPiece,
}

/// Why a piece could not be heard back.
#[derive(Debug)]
pub enum Unheard {
    /// The transcription server refused the key or the quota: stop the run.
    Stop(String),
    /// It did not answer usefully after [`HEAR_ATTEMPTS`]: the piece is kept unheard.
    Skip(String),
}

impl Hearing {
    /// The hearing of `cfg`, or `None` without `--verify`. The key is read here, before
    /// anything is sent (exit 2 when it is missing).
    pub fn from_config(cfg: &Config) -> Result<Option<Arc<Hearing>>, Error> {
        if !cfg.verify.enabled {
            return Ok(None);
        }
        let key = cfg
            .verify_key(&crate::config::env)
            .map_err(|e| Error::input(format!("--verify: {e}")))?;
        let client = TranscriptionClient::new(
            &cfg.verify.base_url,
            key,
            &cfg.verify.model,
            cfg.timeout,
            cfg.concurrency,
        )
        .map_err(|e| Error::input(format!("cannot set up the HTTP client: {e}")))?;
        let pacer = if is_loopback(&cfg.verify.base_url) {
            Pacer::unpaced()
        } else {
            Pacer::new(cfg.rpm, None, &[], false)
        };
        Ok(Some(Arc::new(Hearing {
            client,
            pacer,
            max_wer: cfg.max_wer,
            sample: cfg.verify.sample,
            strict: cfg.verify.strict,
            price_per_minute: crate::plan::prices::transcription_per_minute(
                &cfg.verify.model,
                &cfg.verify.base_url,
            ),
        })))
    }

    /// The estimated cost of hearing `seconds` of audio, for `--max-cost`.
    pub fn cost_usd(&self, seconds: f64) -> f64 {
        seconds.max(0.0) / 60.0 * self.price_per_minute
    }

    /// Whether this piece is among the sampled share. Decided by its fingerprint, so every run
    /// (and `verify`) picks the same pieces.
    pub fn samples(&self, fingerprint: &str) -> bool {
        if self.sample >= 1.0 {
            return true;
        }
        let digest = sha2::Sha256::digest(fingerprint.as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(head) as f64 / u64::MAX as f64) < self.sample
    }

    /// Sends the audio at `path` to the transcription endpoint (retrying what may pass) and
    /// scores the transcript against `text`.
    pub async fn hear(
        &self,
        path: &Path,
        format: AudioFormat,
        text: &str,
        voice: &str,
        stop: &CancellationToken,
    ) -> Result<Heard, Unheard> {
        let language = language_of(voice);
        let mut attempt = 0;
        let transcript = loop {
            attempt += 1;
            tokio::select! {
                _ = stop.cancelled() => return Err(Unheard::Skip("the run is stopping".into())),
                _ = self.pacer.acquire(0) => {}
            }
            crate::store::failpoint("hearing-sent");
            let error = match self.client.transcribe(path, format, language).await {
                Ok((transcript, hints)) => {
                    self.pacer.observe(&hints);
                    break transcript;
                }
                Err(e) => e,
            };
            let (wait, why) = match error {
                SpeechError::RunStopped(msg) | SpeechError::Certificate(msg) => {
                    return Err(Unheard::Stop(format!("transcription: {msg}")));
                }
                SpeechError::ItemFailed(msg) => return Err(Unheard::Skip(msg)),
                SpeechError::Local(e) => return Err(Unheard::Skip(e.to_string())),
                SpeechError::Retryable {
                    reason,
                    after,
                    rate_limited,
                } => {
                    let wait = after
                        .unwrap_or(Duration::from_secs(1 << attempt.min(5)))
                        .min(MAX_HINT);
                    if rate_limited {
                        self.pacer.rate_limited();
                        self.pacer.pause_for(wait);
                    }
                    (wait, reason)
                }
                SpeechError::Unreachable(msg) => (Duration::from_secs(1 << attempt.min(5)), msg),
            };
            if attempt >= HEAR_ATTEMPTS {
                return Err(Unheard::Skip(format!(
                    "{why} (gave up after {attempt} attempts)"
                )));
            }
            tokio::select! {
                _ = stop.cancelled() => return Err(Unheard::Skip("the run is stopping".into())),
                _ = tokio::time::sleep(wait) => {}
            }
        };
        Ok(score_transcript(text, transcript))
    }
}

/// The score of a transcript against the text, and the row the queue keeps.
pub fn score_transcript(text: &str, transcript: Transcript) -> Heard {
    let score = verify::score(text, &transcript.text);
    // Words place subtitle cues best; segments are the fallback.
    let timed: &[Timed] = if transcript.words.is_empty() {
        &transcript.segments
    } else {
        &transcript.words
    };
    let timings = (!timed.is_empty()).then(|| {
        let rows: Vec<(f64, f64, &str)> = timed
            .iter()
            .map(|t| (t.start, t.end, t.text.as_str()))
            .collect();
        serde_json::to_string(&rows).unwrap_or_default()
    });
    Heard {
        score,
        stored: HeardPiece {
            errors: score.errors as u64,
            words: score.words as u64,
            wer: score.wer,
            transcript: transcript.text,
            timings,
            warning: None,
        },
    }
}

/// The row the queue keeps for a transcript a voice sent itself (the realtime provider's):
/// its score and words, no timings.
pub fn score_stored(score: &Score, transcript: String) -> HeardPiece {
    HeardPiece {
        errors: score.errors as u64,
        words: score.words as u64,
        wer: score.wer,
        transcript,
        timings: None,
        warning: None,
    }
}

/// What a piece kept over the threshold is warned with.
pub fn mismatch(score: &Score, max_wer: f64) -> String {
    let rate = match score.unit {
        verify::Unit::Words => "word error rate",
        verify::Unit::Characters => "character error rate",
    };
    format!(
        "its transcript does not match its text ({rate} {:.2}, over --max-wer {max_wer})",
        score.wer
    )
}

/// The closing line's words about items whose transcripts do not match their text.
pub fn mismatch_line(items: &[(String, f64)], max_wer: f64) -> String {
    const SHOWN: usize = 10;
    let mut named: Vec<String> = items
        .iter()
        .take(SHOWN)
        .map(|(key, rate)| format!("{key} ({rate:.2})"))
        .collect();
    if items.len() > SHOWN {
        named.push(format!("and {} more", items.len() - SHOWN));
    }
    let what = if items.len() == 1 {
        "item is"
    } else {
        "items are"
    };
    format!(
        "{} {what} over --max-wer {max_wer}: {}",
        items.len(),
        named.join(", ")
    )
}

/// The language a transcription server is told, from the voice: espeak and Piper voices name
/// it (`en-us`, `fr`, `cmn`, `de_DE-thorsten-medium`); OpenAI's voice names do not (`None`:
/// the server detects it).
pub fn language_of(voice: &str) -> Option<&'static str> {
    let name = voice.rsplit('/').next().unwrap_or(voice);
    let head: String = name
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match head.as_str() {
        "en" => "en",
        "fr" => "fr",
        "de" => "de",
        "es" => "es",
        "it" => "it",
        "pt" => "pt",
        "nl" => "nl",
        "sv" => "sv",
        "da" => "da",
        "nb" | "no" => "no",
        "fi" => "fi",
        "pl" => "pl",
        "cs" => "cs",
        "ru" => "ru",
        "uk" => "uk",
        "el" => "el",
        "tr" => "tr",
        "ar" => "ar",
        "hi" => "hi",
        "ja" => "ja",
        "ko" => "ko",
        "cmn" | "zh" | "yue" => "zh",
        _ => return None,
    })
}

/// Hears every done piece of a done item not heard yet (`-j` at a time), and records each
/// score, and what its transcription cost, in the queue as it comes. Pieces over the threshold
/// are kept with a warning here; `verify --fix` requests them again. `allowance` is what
/// `--max-cost` leaves to spend (`None`: no limit): a transcription that would pass it is not
/// sent, and the pass ends as stopped by `--max-cost` once those in flight are recorded.
/// Returns how many pieces were heard; a failure is a stop (transcriptions went out).
pub async fn hear_done(
    conn: &rusqlite::Connection,
    hearing: &Hearing,
    pieces_dir: &Path,
    concurrency: usize,
    allowance: Option<f64>,
    stop: &CancellationToken,
) -> Result<usize, StopReason> {
    let after_send = |e: queue::QueueError| StopReason::Storage(e.into());
    let todo: Vec<_> = queue::unheard_pieces(conn)
        .map_err(after_send)?
        .into_iter()
        .filter(|p| hearing.samples(&p.fingerprint))
        .collect();
    if todo.is_empty() {
        return Ok(0);
    }
    tracing::info!("hearing back {} pieces", todo.len());
    // What is left to spend; once a transcription would pass it, none is sent after it.
    let budget = std::sync::Mutex::new(allowance);
    let over = std::sync::atomic::AtomicBool::new(false);
    let (budget, over) = (&budget, &over);
    let mut results = futures_util::stream::iter(todo.into_iter().map(|piece| async move {
        let cost = hearing.cost_usd(piece.audio_seconds);
        if !charge(budget, over, cost) {
            return (piece.fingerprint, piece.audio_seconds, cost, None);
        }
        let path = crate::store::piece_path(pieces_dir, &piece.fingerprint, piece.format);
        let heard = hearing
            .hear(&path, piece.format, &piece.text, &piece.voice, stop)
            .await;
        (piece.fingerprint, piece.audio_seconds, cost, Some(heard))
    }))
    .buffer_unordered(concurrency.max(1));
    let mut count = 0;
    while let Some((fingerprint, seconds, cost, heard)) = results.next().await {
        let Some(heard) = heard else { continue };
        if heard.is_ok() {
            queue::record_transcription(conn, &fingerprint, seconds, cost).map_err(after_send)?;
        } else if let Ok(mut left) = budget.lock()
            && let Some(left) = left.as_mut()
        {
            // No useful answer, nothing to pay: the limit gets it back.
            *left += cost;
        }
        match heard {
            Ok(mut heard) => {
                if !heard.score.passes(hearing.max_wer) {
                    let why = mismatch(&heard.score, hearing.max_wer);
                    tracing::warn!(piece = %fingerprint, "{why}");
                    heard.stored.warning = Some(why);
                }
                queue::record_heard(conn, &fingerprint, &heard.stored).map_err(after_send)?;
                count += 1;
            }
            Err(Unheard::Stop(msg)) => return Err(StopReason::Refused(msg)),
            Err(Unheard::Skip(msg)) => {
                tracing::warn!(piece = %fingerprint, "not heard back: {msg}");
            }
        }
    }
    if over.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(StopReason::MaxCost);
    }
    Ok(count)
}

/// Takes `cost` out of what is left to spend, unless it would pass it (or an earlier one
/// did: then nothing more is sent).
fn charge(
    budget: &std::sync::Mutex<Option<f64>>,
    over: &std::sync::atomic::AtomicBool,
    cost: f64,
) -> bool {
    use std::sync::atomic::Ordering;
    if over.load(Ordering::Relaxed) {
        return false;
    }
    let Ok(mut left) = budget.lock() else {
        return false;
    };
    match left.as_mut() {
        None => true,
        Some(left) if cost <= *left => {
            *left -= cost;
            true
        }
        Some(_) => {
            over.store(true, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_name_their_language() {
        assert_eq!(language_of("en-us"), Some("en"));
        assert_eq!(language_of("en-gb+f3"), Some("en"));
        assert_eq!(language_of("cmn"), Some("zh"));
        assert_eq!(
            language_of("/voices/de_DE-thorsten-medium.onnx"),
            Some("de")
        );
        assert_eq!(language_of("alloy"), None);
        assert_eq!(language_of("marin"), None);
    }

    #[test]
    fn a_transcript_keeps_its_word_times_before_its_segments() {
        let timed = |t: &str| Timed {
            start: 0.0,
            end: 1.0,
            text: t.into(),
        };
        let heard = score_transcript(
            "Hello there.",
            Transcript {
                text: "Hello there".into(),
                segments: vec![timed("Hello there")],
                words: vec![timed("Hello"), timed("there")],
            },
        );
        assert_eq!(heard.score.errors, 0);
        assert_eq!(
            heard.stored.timings.as_deref(),
            Some(r#"[[0.0,1.0,"Hello"],[0.0,1.0,"there"]]"#)
        );
        let none = score_transcript(
            "Hello.",
            Transcript {
                text: "Hello".into(),
                ..Default::default()
            },
        );
        assert_eq!(none.stored.timings, None);
    }
}
