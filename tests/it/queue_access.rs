//! The queue's journal: WAL mode, so `status`, `report` and `plan` read the queue while a run
//! works it and after a `kill -9`; and `report` never writes over a running run's files.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::support::*;

/// Items of the long run: enough that it is still working while the readers read.
const N: usize = 200;

fn many_lines(n: usize) -> String {
    (1..=n)
        .map(|i| format!("Line number {i} of a long evening.\n"))
        .collect()
}

/// `status`, `report --format json` and `plan` all answer from the queue.
#[track_caller]
fn readers_work(ws: &Workspace, when: &str) {
    let status = ws.run(&["status", "book.txt"]);
    assert_exit(&status, 0);
    assert!(
        status.stdout.contains(&format!("items: {N} ")),
        "{when}: {}",
        status.stdout
    );
    let report = ws.run(&["report", "book.txt", "--format", "json"]);
    assert_exit(&report, 0);
    let parsed: serde_json::Value = serde_json::from_str(&report.stdout)
        .unwrap_or_else(|e| panic!("{when}: report is not JSON: {e}"));
    assert_eq!(parsed["totals"]["items"], N, "{when}");
    let plan = ws.run(&["plan", "book.txt"]);
    assert_exit(&plan, 0);
    assert!(
        plan.stdout.contains(&format!("{N} items")),
        "{when}: {}",
        plan.stdout
    );
}

#[test]
fn the_queue_is_in_wal_mode() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One.\n");
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    let conn = rusqlite::Connection::open(ws.path("lines-audio/tts-batch.db")).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn status_report_and_plan_read_the_queue_during_a_run_and_after_kill_9() {
    let ws = Workspace::new();
    ws.write("book.txt", many_lines(N));
    let api = FakeApi::builder()
        .latency(Duration::from_millis(150))
        .start();
    let mut child = ws
        .run_command(&api, "book.txt", &["--rpm", "6000", "-j", "2", "-q"])
        .spawn()
        .unwrap();
    wait_for("four answers", || api.successes().len() >= 4);
    readers_work(&ws, "during the run");
    assert!(
        matches!(child.try_wait(), Ok(None)),
        "the run must still be working the queue"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the kill landed before the run ended"
    );
    readers_work(&ws, "after kill -9");
    let report = ws.run(&["report", "book.txt", "--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert!(parsed["totals"]["pending"].as_u64().unwrap() > 0);
    // And the next run finishes the job.
    assert_exit(&ws.run_against(&api, "book.txt", &[]), 0);
}

#[test]
fn report_without_format_leaves_a_running_runs_files_alone() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One.\nTwo.\n");
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    let json_before = std::fs::read(ws.path("lines-audio/report.json")).unwrap();
    let csv_before = std::fs::read(ws.path("lines-audio/report.csv")).unwrap();

    // Hold the queue's lock as a running tts-batch does.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(ws.path("lines-audio/tts-batch.db"))
        .unwrap();
    held.try_lock().unwrap();
    let files_before = ws.files();
    let out = ws.run(&["report", "lines.txt"]);
    assert_exit(&out, 4);
    assert!(out.stderr.contains("--format"), "{}", out.stderr);
    assert_eq!(ws.files(), files_before);
    assert_eq!(
        std::fs::read(ws.path("lines-audio/report.json")).unwrap(),
        json_before
    );
    assert_eq!(
        std::fs::read(ws.path("lines-audio/report.csv")).unwrap(),
        csv_before
    );
    // Printing is reading: it works while the run holds the queue.
    assert_exit(&ws.run(&["report", "lines.txt", "--format", "csv"]), 0);

    drop(held);
    let out = ws.run(&["report", "lines.txt"]);
    assert_exit(&out, 0);
    assert!(out.stdout.contains("report.json"), "{}", out.stdout);
}
