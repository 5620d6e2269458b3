//! The offline neural voice: the `piper` program (package `piper-tts`), run as separate
//! processes (never linked: it is GPL), each kept warm with its voice loaded across pieces
//! (`process.rs`), its WAV encoded in-process into the requested format by the shared encoders.
//! It sits behind the same [`Provider`] trait as the API client and espeak-ng and answers with
//! the same error classes, so the queue, retries, pieces, joins, audio checks, report and
//! resume are theirs.

pub mod process;
pub mod program;
pub mod voices;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use program::{INSTALL_HINT, PiperError};
pub use voices::{Voice, VoiceError};

use super::encode;
use super::{Fetched, Provider, SpeechError, SpeechRequest, encode_off_workers, save_whole};
use crate::domain::{AudioFormat, VoiceSettings};
use process::{Key, Warm};

/// Why piper cannot speak an item's settings: its format or its voice.
#[derive(Debug, thiserror::Error)]
pub enum Unspeakable {
    #[error(transparent)]
    Format(#[from] encode::EncodeError),
    #[error(transparent)]
    Voice(#[from] VoiceError),
}

/// The installed `piper`, the voices folder, and the warm processes between pieces.
#[derive(Debug)]
pub struct Piper {
    program: PathBuf,
    voices_dir: Option<PathBuf>,
    timeout: Duration,
    /// Processes not speaking right now, the most recently used last.
    idle: Mutex<Vec<Warm>>,
    /// How many idle processes are kept: one per worker.
    keep: usize,
}

impl Piper {
    /// Finds `piper` on `path_var` (the `PATH` value), before anything runs: a missing program
    /// is an error naming the install commands. `voices_dir` is where voice names are looked
    /// up; `workers` is how many processes stay warm.
    pub fn load(
        path_var: Option<OsString>,
        voices_dir: Option<PathBuf>,
        timeout: Duration,
        workers: usize,
    ) -> Result<Piper, PiperError> {
        Ok(Piper {
            program: program::locate(path_var)?,
            voices_dir,
            timeout,
            idle: Mutex::new(Vec::new()),
            keep: workers.max(1),
        })
    }

    /// The folder voice names are looked up in.
    pub fn voices_dir(&self) -> Option<&Path> {
        self.voices_dir.as_deref()
    }

    /// Finds a voice by path or name.
    pub fn resolve(&self, voice: &str) -> Result<Voice, VoiceError> {
        voices::resolve(voice, self.voices_dir())
    }

    /// Whether an item's settings can be spoken: its voice exists with its config and its
    /// format can be encoded. Checked for every item before a run starts.
    pub fn check(&self, settings: &VoiceSettings) -> Result<(), Unspeakable> {
        if settings.format == AudioFormat::Aac {
            return Err(encode::EncodeError::AacUnavailable.into());
        }
        self.resolve(&settings.voice)?;
        Ok(())
    }

    /// Speaks `text` and encodes it: the bytes of the whole file.
    pub async fn speak(
        &self,
        text: &str,
        voice: &str,
        speed: f64,
        format: AudioFormat,
    ) -> Result<Vec<u8>, SpeechError> {
        let voice = self
            .resolve(voice)
            .map_err(|e| SpeechError::ItemFailed(e.to_string()))?;
        let key = Key {
            length_scale: program::length_scale(voice.length_scale, speed),
            model: voice.model,
            config: voice.config,
        };
        let mut warm = match self.take(&key) {
            Some(warm) => warm,
            None => Warm::start(&self.program, key).map_err(classify)?,
        };
        let allowed = allowance(self.timeout, text);
        let samples = tokio::time::timeout(allowed, warm.speak(text))
            .await
            .map_err(|_| classify(PiperError::TimedOut(allowed)))?
            .map_err(classify)?;
        // Only a process that answered goes back: one that failed is dropped (and killed).
        self.give(warm);
        encode_off_workers(format, move || {
            encode::encode(&samples, format).map_err(|e| SpeechError::ItemFailed(e.to_string()))
        })
        .await
    }

    /// Ends the idle processes: their input closed, each finishes and exits.
    async fn close_all(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for warm in idle {
            warm.close().await;
        }
    }

    /// An idle process of this voice and length scale.
    fn take(&self, key: &Key) -> Option<Warm> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let at = idle.iter().rposition(|w| w.key == *key)?;
        Some(idle.remove(at))
    }

    /// Keeps a process for the next piece; beyond one per worker, the least recently used
    /// one (another voice or speed) is stopped.
    fn give(&self, warm: Warm) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(warm);
        while idle.len() > self.keep {
            idle.remove(0);
        }
    }
}

/// How long one piece may take: `--timeout`, plus 100 ms a character. A neural voice takes
/// time in proportion to the text (a full 4,096-character piece is a minute or more on one
/// loaded core), where `--timeout` was made for an answer's wait; piper speaks well over ten
/// characters a second on any core it runs on, so a stuck process is still stopped.
fn allowance(timeout: Duration, text: &str) -> Duration {
    let characters = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
    timeout.saturating_add(Duration::from_millis(characters.saturating_mul(100)))
}

/// The class of a failed utterance: a program that vanished stops the run; one that was
/// killed, took too long or wrote no usable WAV is tried again; one that ended on the text, or
/// spoke no audio for it, fails the item.
fn classify(error: PiperError) -> SpeechError {
    let retry = |reason: String| SpeechError::Retryable {
        reason,
        after: None,
        rate_limited: false,
    };
    match error {
        PiperError::Missing => SpeechError::RunStopped(error.to_string()),
        PiperError::Spawn { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            SpeechError::RunStopped(format!("{error} ({INSTALL_HINT})"))
        }
        PiperError::Failed { signal: true, .. }
        | PiperError::Spawn { .. }
        | PiperError::TimedOut(_)
        | PiperError::BadWav(_) => retry(error.to_string()),
        PiperError::Failed { signal: false, .. } | PiperError::NoAudio => {
            SpeechError::ItemFailed(error.to_string())
        }
    }
}

impl Provider for Piper {
    fn finish(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.close_all())
    }

    fn fetch<'a>(
        &'a self,
        request: &'a SpeechRequest<'a>,
        dest: &'a Path,
    ) -> BoxFuture<'a, Result<Fetched, SpeechError>> {
        Box::pin(async move {
            let bytes = self
                .speak(
                    request.input,
                    request.voice,
                    request.speed.unwrap_or(1.0),
                    request.response_format,
                )
                .await?;
            save_whole(dest, &bytes).await
        })
    }
}

/// The real program and voice the tests speak with, found as the integration tests find them.
#[cfg(test)]
#[path = "../../../tests/it/support/piper.rs"]
mod test_piper;

#[cfg(test)]
mod tests {
    use super::*;

    fn piper() -> Piper {
        let setup = test_piper::setup();
        let path = std::env::join_paths([&setup.bin_dir]).unwrap();
        Piper::load(Some(path), Some(setup.voices), Duration::from_secs(120), 1).unwrap()
    }

    fn idle_pids(piper: &Piper) -> Vec<Option<u32>> {
        piper.idle.lock().unwrap().iter().map(Warm::id).collect()
    }

    #[tokio::test]
    async fn one_process_speaks_piece_after_piece() {
        let piper = piper();
        let wav = piper
            .speak(
                "Hello there, Alice.",
                "en_US-joe-medium",
                1.0,
                AudioFormat::Wav,
            )
            .await
            .unwrap();
        let first = encode::read_wav(&wav).unwrap();
        assert_eq!(first.rate, 22_050);
        assert!(first.seconds() > 0.5, "{}", first.seconds());
        let warm = idle_pids(&piper);
        assert_eq!(warm.len(), 1);
        // Line breaks and control characters are spoken as spaces, in the same process.
        let second = piper
            .speak(
                "Hello\nthere,\r\n\tAlice.",
                "en_US-joe-medium",
                1.0,
                AudioFormat::Wav,
            )
            .await
            .unwrap();
        assert!(encode::read_wav(&second).unwrap().seconds() > 0.5);
        assert_eq!(idle_pids(&piper), warm);
        // Twice the speed: another length scale, another process, half the time or so.
        let fast = piper
            .speak(
                "Hello there, Alice.",
                "en_US-joe-medium",
                2.0,
                AudioFormat::Wav,
            )
            .await
            .unwrap();
        let fast = encode::read_wav(&fast).unwrap();
        assert!(
            fast.seconds() < first.seconds() * 0.75,
            "{} vs {}",
            fast.seconds(),
            first.seconds()
        );
        // One worker: one process kept, the latest.
        let last = idle_pids(&piper);
        assert_eq!(last.len(), 1);
        assert_ne!(last, warm);
        // At the end of the run it is ended, and reaped.
        piper.finish().await;
        assert!(idle_pids(&piper).is_empty());
        let pid = last[0].expect("it was running");
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[tokio::test]
    async fn text_without_speech_fails_the_item_and_the_next_piece_still_speaks() {
        let piper = piper();
        for text in ["   ", "..."] {
            let error = piper
                .speak(text, "en_US-joe-medium", 1.0, AudioFormat::Wav)
                .await
                .unwrap_err();
            assert!(
                matches!(&error, SpeechError::ItemFailed(m) if m.contains("no audio")),
                "{text:?}: {error:?}"
            );
        }
        let wav = piper
            .speak("Still here.", "en_US-joe-medium", 1.0, AudioFormat::Wav)
            .await
            .unwrap();
        assert!(encode::read_wav(&wav).unwrap().seconds() > 0.3);
    }

    #[test]
    fn a_long_piece_is_allowed_time_in_proportion() {
        let timeout = Duration::from_secs(120);
        assert_eq!(allowance(timeout, ""), timeout);
        assert_eq!(
            allowance(timeout, &"é".repeat(4096)),
            Duration::from_millis(120_000 + 409_600)
        );
    }

    #[test]
    fn failures_fall_in_the_api_classes() {
        assert!(matches!(
            classify(PiperError::Missing),
            SpeechError::RunStopped(m) if m.contains("pip install piper-tts")
        ));
        assert!(matches!(
            classify(PiperError::TimedOut(Duration::from_secs(1))),
            SpeechError::Retryable { .. }
        ));
        assert!(matches!(
            classify(PiperError::NoAudio),
            SpeechError::ItemFailed(_)
        ));
        let ended = PiperError::Failed {
            status: "exit status: 1".into(),
            signal: false,
            stderr: "ValueError".into(),
        };
        assert!(matches!(classify(ended), SpeechError::ItemFailed(_)));
        let killed = PiperError::Failed {
            status: "signal: 9".into(),
            signal: true,
            stderr: "no message".into(),
        };
        assert!(matches!(classify(killed), SpeechError::Retryable { .. }));
    }
}
