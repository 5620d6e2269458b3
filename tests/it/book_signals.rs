//! Ctrl-C and SIGTERM while the book is being made: the run stops with its usual line and exit
//! 3, kills its ffmpeg processes, leaves no partial book and no temporary file, and the next
//! run makes the book, reusing every chapter encoding that finished.
//!
//! The book of a small manifest is made in a blink, so these runs hold at a point of the book
//! phase (`TTS_BATCH_HOLD`, debug builds only: the thread waits there until the run is
//! cancelled); the test waits for that point's visible effect on disk, then signals.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

use rustix::process::Signal;

use crate::support::*;

fn story(ws: &Workspace) {
    let chapters: String = (1..=6)
        .map(|n| {
            format!(
                "# Chapter {n}\n\nIn chapter {n} the story goes on, one sentence after another, for a while.\n\n"
            )
        })
        .collect();
    ws.write("story.md", chapters);
}

/// Files under `dir` (recursively) whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Processes still running whose command line names something in `dir` (an orphaned ffmpeg).
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle))
        .collect()
}

/// Runs `--book FORMAT` held at `hold`, waits for `reached` to show on disk, sends `signal`, and
/// checks the stop: exit 3, the usual line, no book file, no temporary file, no ffmpeg left.
fn stop_the_book(
    ws: &Workspace,
    api: &FakeApi,
    format: &str,
    hold: &str,
    signal: Signal,
    reached: impl FnMut() -> bool,
) {
    let child = ws
        .run_command(api, "story.md", &["--rpm", "6000", "--book", format])
        .env("TTS_BATCH_HOLD", hold)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tts-batch");
    wait_for(hold, reached);
    crate::support::signal(&child, signal);
    let out = Output::from(child.wait_with_output().expect("wait for tts-batch"));
    assert_exit(&out, 3);
    assert!(
        out.stderr.contains("stopped by a signal:"),
        "{format}: the usual line: {}",
        out.stderr
    );
    assert!(
        ws.report("story-audio")["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("signal")),
        "{format}"
    );
    let out_dir = ws.path("story-audio");
    assert_eq!(
        files_ending(&out_dir, &format!(".{format}"))
            .iter()
            .filter(|p| p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("story")))
            .count(),
        0,
        "{format}: no book file"
    );
    assert_eq!(
        files_ending(ws.root(), ".tts-tmp"),
        Vec::<PathBuf>::new(),
        "{format}: temporary files left"
    );
    assert_eq!(
        processes_using(ws.root()),
        Vec::<String>::new(),
        "{format}: processes left"
    );
}

/// (name, modification time) of the cached chapter encodings.
fn encodings(cache: &Path) -> Vec<(PathBuf, SystemTime)> {
    files_ending(cache, ".aac")
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .map(|p| {
            let modified = std::fs::metadata(&p).and_then(|m| m.modified()).unwrap();
            (p, modified)
        })
        .collect()
}

#[test]
fn sigint_while_the_m4b_is_made_stops_it_and_the_next_run_reuses_the_encodings() {
    let ws = Workspace::new();
    story(&ws);
    let api = FakeApi::builder().start();
    assert_exit(&ws.run_against(&api, "story.md", &[]), 0);
    let sent = api.count();
    let cache = ws.path("story-audio/tts-batch.book");

    stop_the_book(&ws, &api, "m4b", "m4b-encoded", Signal::INT, || {
        !encodings(&cache).is_empty()
    });
    let finished = encodings(&cache);
    assert!(!finished.is_empty());

    let out = ws.run_against(&api, "story.md", &["--book", "m4b"]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), sent, "no request: every chapter was spoken");
    assert!(ws.path("story-audio/story.m4b").is_file(), "{}", out.stderr);
    for (path, modified) in finished {
        let now = std::fs::metadata(&path).and_then(|m| m.modified());
        assert_eq!(
            now.ok(),
            Some(modified),
            "{}: reused, not encoded again",
            path.display()
        );
    }
}

#[test]
fn sigterm_while_the_mp3_book_is_written_stops_it_and_the_next_run_writes_it() {
    let ws = Workspace::new();
    story(&ws);
    let api = FakeApi::builder().start();
    assert_exit(&ws.run_against(&api, "story.md", &[]), 0);
    let sent = api.count();
    let out_dir = ws.path("story-audio");

    stop_the_book(&ws, &api, "mp3", "mp3-book-write", Signal::TERM, || {
        !files_ending(&out_dir, ".mp3.tts-tmp").is_empty()
    });

    let out = ws.run_against(&api, "story.md", &["--book", "mp3"]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), sent, "no request: every chapter was spoken");
    assert!(ws.path("story-audio/story.mp3").is_file(), "{}", out.stderr);
}
