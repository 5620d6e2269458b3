//! Test support: a workspace with the real `tts-batch` binary, the fake speech API it talks to,
//! and the audio tools that check what it wrote. A new test is a few lines: write a manifest,
//! start the API, run the binary, assert on files, the report and the API's request log.

#![allow(dead_code)] // shared by every test file; not every file uses every helper

pub mod decode;
pub mod epub;
pub mod outage;
pub mod packing;
pub mod piper;
pub mod playback;
pub mod probe;
pub mod realtime;
pub mod server;
pub mod synth;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use realtime::{RealtimeApi, RtFault};
pub use server::{FakeApi, Fault};

/// The key the fake API expects and the binary is given.
pub const KEY: &str = "sk-test-0123456789abcdef";

/// A folder for one test, with the binary run inside it.
pub struct Workspace {
    dir: tempfile::TempDir,
}

/// What a finished run of the binary left.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Output {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating folders) and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// Copies a file of the shared corpus into the workspace.
    pub fn corpus(&self, name: &str) -> PathBuf {
        let text = std::fs::read(corpus_path(name)).expect("corpus file");
        self.write(name, text)
    }

    /// The binary, run in the workspace, with a clean environment: the test key, no base URL,
    /// no RUST_LOG.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tts-batch"));
        cmd.args(args)
            .current_dir(self.root())
            .env_remove("OPENAI_BASE_URL")
            .env_remove("RUST_LOG")
            .env("OPENAI_API_KEY", KEY)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the binary to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run tts-batch");
        Output::from(out)
    }

    /// `run INPUT --base-url API EXTRA...`, not yet started (to spawn, kill, signal).
    pub fn run_command(&self, api: &FakeApi, input: &str, extra: &[&str]) -> Command {
        let base = api.base_url();
        let mut args = vec!["run", input, "--base-url", &base];
        args.extend_from_slice(extra);
        self.command(&args)
    }

    /// `run INPUT` against `api`, fast pacing, plus `extra` flags, to its end.
    pub fn run_against(&self, api: &FakeApi, input: &str, extra: &[&str]) -> Output {
        let mut args = vec!["--rpm", "6000"];
        args.extend_from_slice(extra);
        let out = self
            .run_command(api, input, &args)
            .output()
            .expect("run tts-batch");
        Output::from(out)
    }

    /// The parsed report.json of an output folder.
    pub fn report(&self, out: &str) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.path(out).join("report.json")).expect("report.json");
        serde_json::from_str(&text).expect("report.json parses")
    }

    /// Every file under the workspace, relative, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut found = Vec::new();
        walk(self.root(), self.root(), &mut found);
        found.sort();
        found
    }
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, found);
        } else if let Ok(rel) = path.strip_prefix(root) {
            found.push(rel.to_string_lossy().into_owned());
        }
    }
}

/// A file of the test corpus (`tests/corpus/`, copied from the shared corpus; `SOURCES.md` there).
pub fn corpus_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

/// Waits until `cond` holds, polling the observable state (the API's log, a child's exit);
/// fails the test after a generous deadline rather than hanging it.
#[track_caller]
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Sends `signal` to a child process.
pub fn signal(child: &std::process::Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a child has a pid");
    rustix::process::kill_process(pid, signal).expect("signal the child");
}

/// Every transient fault, each of which must be retried until the audio is whole.
pub fn transient_faults() -> Vec<Fault> {
    vec![
        Fault::Status500,
        Fault::BadGateway,
        Fault::Unavailable {
            retry_after_secs: 0,
        },
        Fault::Reset,
        Fault::ShortBody,
        Fault::JsonErrorIn200,
        Fault::EmptyBody,
        Fault::HtmlIn200,
        Fault::WrongFormat,
        Fault::RateLimitMs { ms: 20 },
        Fault::RateLimitSecs { secs: 0 },
        Fault::RateLimitMessage { secs: 0 },
    ]
}

/// Asserts the run exited with `code`, showing its output if not.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.code, code,
        "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
        out.code, out.stdout, out.stderr
    );
}

/// Asserts two durations in seconds are equal to within a microsecond.
#[track_caller]
pub fn assert_seconds(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-6,
        "duration {actual} s, expected {expected} s"
    );
}

/// The report's item with this key.
pub fn item<'a>(report: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    report["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["key"] == key))
        .unwrap_or_else(|| panic!("no item {key} in the report"))
}

/// Seconds of audio the API served, per input text, for the successful requests.
pub fn served_seconds(api: &FakeApi, input: &str) -> f64 {
    api.successes()
        .iter()
        .find(|r| r.input == input)
        .and_then(|r| r.audio_seconds)
        .unwrap_or_else(|| panic!("the API never served {input:?}"))
}

/// The lines a child writes to stderr, as they come.
pub struct StderrLines {
    rx: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl StderrLines {
    pub fn of(child: &mut std::process::Child) -> StderrLines {
        use std::io::BufRead;
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StderrLines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `needle`.
    pub fn wait_for(&mut self, needle: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.seen.iter().any(|l| l.contains(needle)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {needle:?} in stderr: {:#?}", self.seen),
            }
        }
    }

    /// Everything, once the child has exited.
    pub fn rest(mut self) -> String {
        while let Ok(line) = self.rx.recv_timeout(std::time::Duration::from_secs(10)) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

/// Runs `args` against a fresh API in `ws`; asserts exit 2, a one-line message containing
/// `needle`, no request and no new file.
#[track_caller]
pub fn refused(ws: &Workspace, args: &[&str], needle: &str) {
    let api = FakeApi::start();
    let before = ws.files();
    let base = api.base_url();
    let mut all: Vec<&str> = args.to_vec();
    if !args.iter().any(|a| a.starts_with("--base-url")) {
        all.extend(["--base-url", &base]);
    }
    let out = ws.run(&all);
    assert_exit(&out, 2);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line expected: {}", out.stderr);
    assert!(
        out.stderr.contains(needle),
        "{needle:?} not in: {}",
        out.stderr
    );
    assert_eq!(api.count(), 0, "no request may be sent");
    assert_eq!(ws.files(), before, "nothing may be written");
}
