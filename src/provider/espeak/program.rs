//! The `espeak-ng` program, run as a separate process (never linked: espeak-ng is GPL):
//! where it is on `PATH`, and one synthesis with the text on stdin and a WAV on stdout.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::provider::encode::{self, Samples};

/// The program's name on `PATH`.
pub const PROGRAM: &str = "espeak-ng";

/// What a user runs to get the program, one platform a line.
pub const INSTALL_HINT: &str = "install it with `sudo apt-get install espeak-ng` (Debian, Ubuntu), \
`sudo dnf install espeak-ng` (Fedora) or `brew install espeak-ng` (macOS)";

/// espeak-ng's rate at `--speed 1.0`, in words per minute (its own default).
pub const DEFAULT_WPM: u32 = 175;
/// espeak-ng treats anything slower as this (measured: `-s 10` and `-s 80` give the same audio).
pub const MIN_WPM: u32 = 80;
/// Above 450 wpm espeak-ng speeds up with sonic; `--speed 4.0` asks for 700.
pub const MAX_WPM: u32 = 700;

/// What can go wrong with the program or one synthesis.
#[derive(Debug, thiserror::Error)]
pub enum EspeakError {
    /// No `espeak-ng` on `PATH`.
    #[error("`{PROGRAM}` was not found on PATH: {INSTALL_HINT}")]
    Missing,
    /// The program could not be started or talked to.
    #[error("could not run `{program}`: {source}", program = .program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    /// The program exited with a failure status.
    #[error("`{PROGRAM}` failed ({status}): {stderr}")]
    Failed {
        status: String,
        /// Killed by a signal rather than exiting: worth another try.
        signal: bool,
        stderr: String,
    },
    /// The program took longer than the timeout and was killed.
    #[error("`{PROGRAM}` took longer than {secs} s and was stopped", secs = .0.as_secs())]
    TimedOut(Duration),
    /// What came back on stdout is not the WAV espeak-ng writes.
    #[error("`{PROGRAM}` wrote no usable WAV: {0}")]
    BadWav(&'static str),
}

/// Where `espeak-ng` is: the first executable file of that name in `PATH`.
pub fn locate(path_var: Option<OsString>) -> Result<PathBuf, EspeakError> {
    crate::provider::program::find_on_path(path_var, PROGRAM).ok_or(EspeakError::Missing)
}

/// The words-per-minute rate for `--speed`: 175 × speed, within what espeak-ng accepts.
pub fn wpm_for_speed(speed: f64) -> u32 {
    let wpm = (f64::from(DEFAULT_WPM) * speed).round();
    if wpm.is_nan() || wpm <= f64::from(MIN_WPM) {
        MIN_WPM
    } else if wpm >= f64::from(MAX_WPM) {
        MAX_WPM
    } else {
        // Checked above: finite and strictly between MIN_WPM and MAX_WPM, so exact.
        wpm as u32
    }
}

/// Speaks `text` with `voice` (as [`VoiceList::resolve`] returned it) at `wpm`, killing
/// the program after `timeout`. The text goes on stdin, never on the command line, so
/// text starting with `-` is not an option; SSML is off (no `-m`), so markup is read as
/// text and cannot load files or change the voice.
pub async fn synthesize(
    program: &Path,
    text: &str,
    voice: &str,
    wpm: u32,
    timeout: Duration,
) -> Result<Samples, EspeakError> {
    let spawn_error = |source| EspeakError::Spawn {
        program: program.to_owned(),
        source,
    };
    let mut child = Command::new(program)
        .args([
            "-b",
            "1",
            "-v",
            voice,
            "-s",
            &wpm.to_string(),
            "--stdout",
            "--stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_error)?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(spawn_error(std::io::Error::other(
            "no pipes to the program",
        )));
    };
    let text = text.as_bytes().to_vec();
    let talk = async {
        // Feed and drain at once: a long text would fill one pipe while we wait on the other.
        let feed = async move {
            stdin.write_all(&text).await?;
            stdin.shutdown().await
        };
        let mut wav = Vec::new();
        let mut err = Vec::new();
        let (fed, read, read_err) = tokio::join!(
            feed,
            stdout.read_to_end(&mut wav),
            stderr.read_to_end(&mut err)
        );
        let status = child.wait().await?;
        read?;
        read_err?;
        // A program that exits early closes stdin under us; its status says more.
        if status.success() {
            fed?;
        }
        Ok::<_, std::io::Error>((status, wav, err))
    };
    let (status, wav, err) = tokio::time::timeout(timeout, talk)
        .await
        .map_err(|_| EspeakError::TimedOut(timeout))?
        .map_err(spawn_error)?;
    if !status.success() {
        return Err(EspeakError::failed(&status, &err));
    }
    parse_wav(&wav)
}

/// Reads the WAV espeak-ng writes to stdout (see [`encode::read_wav`]).
pub fn parse_wav(bytes: &[u8]) -> Result<Samples, EspeakError> {
    encode::read_wav(bytes).map_err(EspeakError::BadWav)
}

impl EspeakError {
    /// A failed exit, with the program's stderr quoted on one line (at most 300 characters).
    pub fn failed(status: &std::process::ExitStatus, stderr: &[u8]) -> EspeakError {
        let text = String::from_utf8_lossy(stderr);
        let mut quoted: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if quoted.chars().count() > 300 {
            quoted = quoted.chars().take(300).collect::<String>() + "…";
        }
        if quoted.is_empty() {
            quoted = "no message".to_owned();
        }
        EspeakError::Failed {
            status: status.to_string(),
            signal: status.code().is_none(),
            stderr: quoted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_scales_the_rate_within_bounds() {
        assert_eq!(wpm_for_speed(1.0), 175);
        assert_eq!(wpm_for_speed(2.0), 350);
        assert_eq!(wpm_for_speed(0.25), MIN_WPM);
        assert_eq!(wpm_for_speed(4.0), MAX_WPM);
        assert_eq!(wpm_for_speed(f64::NAN), MIN_WPM);
        assert_eq!(wpm_for_speed(f64::INFINITY), MAX_WPM);
    }

    #[test]
    fn missing_program_names_install_commands() {
        let empty = tempfile::tempdir().unwrap();
        let error = locate(Some(empty.path().as_os_str().to_owned())).unwrap_err();
        let message = error.to_string();
        for needle in [
            "apt-get install espeak-ng",
            "dnf install espeak-ng",
            "brew install espeak-ng",
        ] {
            assert!(message.contains(needle), "{message}");
        }
        assert!(matches!(locate(None), Err(EspeakError::Missing)));
    }

    fn program() -> PathBuf {
        locate(std::env::var_os("PATH")).expect("espeak-ng is installed for these tests")
    }

    #[tokio::test]
    async fn synthesizes_hostile_text_as_words() {
        let program = program();
        let plain = synthesize(
            &program,
            "Hello there.",
            "en-us",
            175,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert_eq!(plain.rate, 22050);
        assert!(plain.seconds() > 0.3, "{}", plain.seconds());
        // Option-like and SSML-like text is spoken, not obeyed: `<audio>` would read a file
        // and `--help` would print help instead of audio.
        for text in [
            "--help -v xx",
            "<speak><audio src=\"/etc/passwd\"/>hi</speak>",
            "- dash",
        ] {
            let pcm = synthesize(&program, text, "en-us", 175, Duration::from_secs(30))
                .await
                .unwrap();
            assert!(pcm.seconds() > 0.1, "{text}: {}", pcm.seconds());
        }
        let fast = synthesize(
            &program,
            "Hello there.",
            "en-us",
            350,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert!(fast.samples.len() < plain.samples.len());
    }

    #[tokio::test]
    async fn a_failure_quotes_stderr() {
        let error = synthesize(&program(), "hi", "zzzq", 175, Duration::from_secs(30))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, EspeakError::Failed { .. }), "{message}");
        assert!(message.contains("voice does not exist"), "{message}");
    }

    #[tokio::test]
    async fn a_slow_program_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let slow = dir.path().join("espeak-ng");
        std::fs::write(&slow, "#!/bin/sh\nexec sleep 30\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = synthesize(&slow, "hi", "en-us", 175, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(error, EspeakError::TimedOut(_)), "{error}");
    }
}
