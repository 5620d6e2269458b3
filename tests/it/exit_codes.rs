//! Exit codes say what happened (SPEC section 6): 2 only when nothing was sent, 1 only when
//! the run finished and items failed, 3 when it stopped early and resumably.

use crate::support::*;

fn two_lines(ws: &Workspace) {
    ws.write("lines.txt", "One.\nTwo.\n");
}

/// Runs `lines.txt` against `api` with the test hook `fault` armed: (exit code, stderr).
fn run_with_fault(
    ws: &Workspace,
    api: &FakeApi,
    fault: &str,
    flags: &[&str],
) -> (Option<i32>, String) {
    let base = api.base_url();
    let mut args = vec!["run", "lines.txt", "--base-url", &base];
    args.extend_from_slice(flags);
    let out = ws
        .command(&args)
        .env("TTS_BATCH_FAULT", fault)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_report_that_cannot_be_written_is_exit_3_not_1() {
    let ws = Workspace::new();
    two_lines(&ws);
    // A folder where report.json goes: the rename onto it fails.
    std::fs::create_dir_all(ws.path("lines-audio/report.json/inside")).unwrap();
    let api = FakeApi::start();
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 3);
    assert!(
        out.stderr.contains("cannot write the report"),
        "{}",
        out.stderr
    );
    assert_eq!(api.count(), 2);
    // The audio is whole; removing the obstacle, the same command writes the report.
    std::fs::remove_dir_all(ws.path("lines-audio/report.json")).unwrap();
    api.reset_log();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(api.count(), 0);
    assert_eq!(ws.report("lines-audio")["totals"]["done"], 2);
}

#[test]
fn a_dead_queue_writer_is_exit_3_not_1() {
    let ws = Workspace::new();
    two_lines(&ws);
    let api = FakeApi::start();
    let (code, stderr) = run_with_fault(&ws, &api, "queue-writer-panic", &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("queue"), "{stderr}");
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(ws.report("lines-audio")["totals"]["done"], 2);
}

#[test]
fn a_queue_error_after_requests_went_out_is_exit_3_not_2() {
    let ws = Workspace::new();
    two_lines(&ws);
    let api = FakeApi::start();
    let (code, stderr) = run_with_fault(&ws, &api, "queue-end-run", &[]);
    assert!(api.count() > 0, "requests went out");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("queue"), "{stderr}");
    api.reset_log();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(api.count(), 0, "the audio was kept");
}

#[test]
fn a_quiet_runs_queue_read_after_requests_went_out_is_exit_3_not_2() {
    let ws = Workspace::new();
    two_lines(&ws);
    let api = FakeApi::start();
    // `-q` reads the failed items from the queue at the very end, after every request.
    let (code, stderr) = run_with_fault(&ws, &api, "queue-failed-items", &["-q"]);
    assert_eq!(api.count(), 2, "requests went out");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("stopped: the queue failed") && stderr.contains("queue-failed-items"),
        "{stderr}"
    );
    assert!(stderr.contains("run the same command again"), "{stderr}");
    api.reset_log();
    assert_exit(&ws.run_against(&api, "lines.txt", &["-q"]), 0);
    assert_eq!(api.count(), 0, "the audio was kept");
}

#[test]
fn a_queue_error_before_anything_is_sent_is_still_exit_2() {
    let ws = Workspace::new();
    two_lines(&ws);
    ws.write(
        "lines-audio/tts-batch.db",
        "not a database at all, just text",
    );
    let api = FakeApi::start();
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("not a tts-batch queue"),
        "{}",
        out.stderr
    );
    assert_eq!(api.count(), 0);
}
