//! Stopping and resuming: kill -9 halfway, signals, one run per queue, `retry`, `status`.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::support::decode::decoded_seconds;
use crate::support::*;

fn many_lines(n: usize) -> String {
    (1..=n)
        .map(|i| format!("This is line number {i} of the book.\n"))
        .collect()
}

#[test]
fn a_run_killed_halfway_resumes_without_paying_twice() {
    let ws = Workspace::new();
    ws.write("book.txt", many_lines(30));
    let api = FakeApi::builder()
        .latency(Duration::from_millis(100))
        .start();
    let mut child = ws
        .run_command(&api, "book.txt", &["--rpm", "6000", "-j", "3", "-q"])
        .spawn()
        .unwrap();
    wait_for("ten finished requests", || api.successes().len() >= 10);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the kill landed before the run ended"
    );
    let killed = rusqlite::Connection::open(ws.path("book-audio/tts-batch.db")).unwrap();
    let done: i64 = killed
        .query_row(
            "SELECT count(*) FROM items WHERE status = 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(done < 30, "the run was killed halfway, not after its end");
    drop(killed);
    let before_resume = api.successes().len();

    let out = ws.run_against(&api, "book.txt", &["-j", "3"]);
    assert_exit(&out, 0);
    let mut per_input: HashMap<String, usize> = HashMap::new();
    for r in api.successes() {
        *per_input.entry(r.input).or_default() += 1;
    }
    assert_eq!(per_input.len(), 30);
    let repeated = per_input.values().filter(|&&n| n > 1).count();
    assert!(
        repeated <= 3,
        "{repeated} items paid twice; at most the 3 in flight at the kill may be"
    );
    assert!(per_input.values().all(|&n| n <= 2));
    assert!(
        api.successes().len() <= 30 + 3,
        "{} successes, {before_resume} before the resume",
        api.successes().len()
    );

    let report = ws.report("book-audio");
    assert_eq!(report["totals"]["done"], 30);
    for i in 1..=30 {
        let file = ws.path(&format!("book-audio/{i:04}.mp3"));
        let text = format!("This is line number {i} of the book.");
        assert_seconds(decoded_seconds(&file).unwrap(), served_seconds(&api, &text));
    }
    assert!(ws.files().iter().all(|f| !f.ends_with(".tts-tmp")));
}

#[test]
fn sigint_and_sigterm_stop_sending_write_the_report_and_the_next_run_finishes() {
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
        let ws = Workspace::new();
        ws.write("book.txt", many_lines(20));
        let api = FakeApi::builder()
            .latency(Duration::from_millis(100))
            .start();
        let mut child = ws
            .run_command(&api, "book.txt", &["--rpm", "6000", "-j", "2", "-q"])
            .spawn()
            .unwrap();
        wait_for("four finished requests", || api.successes().len() >= 4);
        crate::support::signal(&child, signal);
        let sent_at_signal = api.count();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(3), "{signal:?}");
        // The two requests in flight may land after the signal; nothing new is sent.
        assert!(
            api.count() <= sent_at_signal + 2,
            "{signal:?}: {} requests after the signal",
            api.count() - sent_at_signal
        );
        let report = ws.report("book-audio");
        assert!(
            report["outcome"].as_str().unwrap().contains("signal"),
            "{}",
            report["outcome"]
        );
        assert!(report["totals"]["pending"].as_u64().unwrap() > 0);
        assert!(ws.files().iter().all(|f| !f.ends_with(".tts-tmp")));
        let conn = rusqlite::Connection::open(ws.path("book-audio/tts-batch.db")).unwrap();
        let claimed: i64 = conn
            .query_row(
                "SELECT count(*) FROM pieces WHERE status = 'claimed'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(claimed, 0, "{signal:?}: claims released");

        let out = ws.run_against(&api, "book.txt", &[]);
        assert_exit(&out, 0);
        assert_eq!(ws.report("book-audio")["totals"]["done"], 20);
    }
}

#[test]
fn a_second_run_on_a_held_queue_exits_4_and_changes_nothing() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One.\nTwo.\n");
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    ws.write("lines.txt", "One.\nTwo.\nThree.\n");
    let report_before = std::fs::read(ws.path("lines-audio/report.json")).unwrap();

    // Hold the queue's lock as a running tts-batch would.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(ws.path("lines-audio/tts-batch.db"))
        .unwrap();
    held.try_lock().unwrap();
    api.reset_log();
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 4);
    assert!(
        out.stderr.contains("another run holds the queue"),
        "{}",
        out.stderr
    );
    assert_eq!(api.count(), 0);
    assert_eq!(
        std::fs::read(ws.path("lines-audio/report.json")).unwrap(),
        report_before
    );
    assert_exit(&ws.run(&["retry", "lines.txt"]), 4);

    // A lock that dies with its holder blocks nothing.
    drop(held);
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(api.count(), 1);
}

#[test]
fn retry_puts_failed_items_back_and_status_tells_what_happened() {
    let ws = Workspace::new();
    ws.write("lines.txt", "Fine line.\nBad line.\n");
    let api = FakeApi::builder()
        .fault_when(
            "Bad",
            Fault::Status {
                code: 400,
                message: "nope".into(),
            },
            1,
        )
        .start();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 1);
    let status = ws.run(&["status", "lines.txt"]);
    assert_exit(&status, 0);
    assert!(
        status.stdout.contains("1 done, 1 failed"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("nope"), "{}", status.stdout);

    // A re-run leaves failed items alone until `retry`.
    api.reset_log();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 1);
    assert_eq!(api.count(), 0);
    let retry = ws.run(&["retry", "lines.txt", "--key", "0002"]);
    assert_exit(&retry, 0);
    assert!(
        retry.stdout.contains("1 failed items back to pending"),
        "{}",
        retry.stdout
    );
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(api.count(), 1);

    let md = ws.run(&["report", "lines.txt", "--format", "md"]);
    assert!(md.stdout.contains("| 0002 | done |"), "{}", md.stdout);
    let csv = ws.run(&[
        "report",
        "--db",
        "lines-audio/tts-batch.db",
        "--format",
        "csv",
    ]);
    assert!(csv.stdout.starts_with("key,title,status"), "{}", csv.stdout);
    assert_exit(&ws.run(&["retry", "lines.txt", "--key", "nosuch"]), 2);
}

#[test]
fn requests_are_spaced_no_burst_above_a_seconds_share() {
    // The server refuses more than its per-second share (12 a second at 720 a minute); a run
    // at --rpm 600 (10 a second) with 8 workers spaces its requests, so it never meets a 429,
    // whereas 8 workers unpaced would send 8 at once. Counted by the server, not timed by the
    // test.
    let ws = Workspace::new();
    ws.write("book.txt", many_lines(25));
    let api = FakeApi::builder()
        .rate_limit_rpm(720)
        .rate_limit_per_second_share()
        .rate_limit_unadvertised()
        .start();
    let out = ws.run(&[
        "run",
        "book.txt",
        "--base-url",
        &api.base_url(),
        "--rpm",
        "600",
        "-j",
        "8",
    ]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), 25, "no request was refused for a burst");
}
