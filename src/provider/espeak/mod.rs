//! The offline voice: the `espeak-ng` program, run as a separate process per piece (never
//! linked: it is GPL), its WAV encoded in-process into the requested format. It sits behind
//! the same [`Provider`] trait as the API client and answers with the same error classes, so
//! the queue, retries, pieces, joins, audio checks, report and resume are the API's.

pub mod program;
pub mod voices;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use program::{EspeakError, INSTALL_HINT};
pub use voices::{VoiceError, VoiceList};

use super::encode;
use super::{Fetched, Provider, SpeechError, SpeechRequest, encode_off_workers, save_whole};
use crate::domain::{AudioFormat, VoiceSettings};

/// Why espeak-ng cannot speak an item's settings: its format or its voice.
#[derive(Debug, thiserror::Error)]
pub enum Unspeakable {
    #[error(transparent)]
    Format(#[from] encode::EncodeError),
    #[error(transparent)]
    Voice(#[from] VoiceError),
}

/// The installed `espeak-ng`: where it is, its voices, and how long one piece may take.
#[derive(Debug, Clone)]
pub struct Espeak {
    program: PathBuf,
    voices: VoiceList,
    timeout: Duration,
}

impl Espeak {
    /// Finds `espeak-ng` on `path_var` (the `PATH` value) and reads its voices, before
    /// anything runs: a missing program is an error naming the install commands.
    pub fn load(path_var: Option<OsString>, timeout: Duration) -> Result<Espeak, VoiceError> {
        let program = program::locate(path_var)?;
        let voices = VoiceList::load(&program)?;
        Ok(Espeak {
            program,
            voices,
            timeout,
        })
    }

    /// The voices of this installation.
    pub fn voices(&self) -> &VoiceList {
        &self.voices
    }

    /// Whether an item's settings can be spoken: its voice exists and its format can be
    /// encoded. Checked for every item before a run starts.
    pub fn check(&self, settings: &VoiceSettings) -> Result<(), Unspeakable> {
        if settings.format == AudioFormat::Aac {
            return Err(encode::EncodeError::AacUnavailable.into());
        }
        self.voices.resolve(&settings.voice)?;
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
            .voices
            .resolve(voice)
            .map_err(|e| SpeechError::ItemFailed(e.to_string()))?;
        let wpm = program::wpm_for_speed(speed);
        let samples = program::synthesize(&self.program, text, &voice, wpm, self.timeout)
            .await
            .map_err(classify)?;
        encode_off_workers(format, move || {
            encode::encode(&samples, format).map_err(|e| SpeechError::ItemFailed(e.to_string()))
        })
        .await
    }
}

/// The class of a failed synthesis: a program that vanished stops the run, one that was
/// killed or gave no WAV is tried again, one that refused the text fails the item.
fn classify(error: EspeakError) -> SpeechError {
    let retry = |reason: String| SpeechError::Retryable {
        reason,
        after: None,
        rate_limited: false,
    };
    match error {
        EspeakError::Missing => SpeechError::RunStopped(error.to_string()),
        EspeakError::Spawn { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            SpeechError::RunStopped(format!("{error} ({INSTALL_HINT})"))
        }
        EspeakError::Failed { signal: true, .. }
        | EspeakError::Spawn { .. }
        | EspeakError::TimedOut(_)
        | EspeakError::BadWav(_) => retry(error.to_string()),
        EspeakError::Failed { signal: false, .. } => SpeechError::ItemFailed(error.to_string()),
    }
}

impl Provider for Espeak {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_fall_in_the_api_classes() {
        assert!(matches!(
            classify(EspeakError::Missing),
            SpeechError::RunStopped(m) if m.contains("apt-get install espeak-ng")
        ));
        assert!(matches!(
            classify(EspeakError::TimedOut(Duration::from_secs(1))),
            SpeechError::Retryable { .. }
        ));
        let refused = EspeakError::Failed {
            status: "exit status: 1".into(),
            signal: false,
            stderr: "bad".into(),
        };
        assert!(matches!(classify(refused), SpeechError::ItemFailed(_)));
        let killed = EspeakError::Failed {
            status: "signal: 9".into(),
            signal: true,
            stderr: "no message".into(),
        };
        assert!(matches!(classify(killed), SpeechError::Retryable { .. }));
    }

    #[tokio::test]
    async fn every_format_decodes_to_espeaks_length() {
        let program = program::locate(std::env::var_os("PATH")).unwrap();
        let text = "Alice was beginning to get very tired of sitting by her sister on the bank, \
                    and of having nothing to do.";
        let pcm = program::synthesize(&program, text, "en-us", 175, Duration::from_secs(60))
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // espeak's own WAV, measured the same way.
        let own = dir.path().join("own.wav");
        let status = std::process::Command::new(&program)
            .args(["-v", "en-us", "-w"])
            .arg(&own)
            .arg(text)
            .status()
            .unwrap();
        assert!(status.success());
        let expected = encode::decoded_seconds(&own, false);
        assert!(
            (expected - pcm.seconds()).abs() < 0.001,
            "{expected} vs {}",
            pcm.seconds()
        );
        encode::assert_every_format_decodes_to(&pcm, expected);
    }
}
