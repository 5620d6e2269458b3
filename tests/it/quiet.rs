//! `-q`, as cron sees it: nothing at all when every item is done; otherwise one stderr line per
//! failed item (`failed: KEY: ERROR`), one line saying why a run stopped, or the one `error:`
//! line; never anything on stdout.

use crate::support::*;

fn four_lines(ws: &Workspace) {
    ws.write(
        "lines.txt",
        "Line alpha.\nLine beta.\nLine gamma.\nLine delta.\n",
    );
}

fn refused(message: &str) -> Fault {
    Fault::Status {
        code: 400,
        message: message.into(),
    }
}

#[test]
fn a_quiet_run_that_succeeds_prints_nothing() {
    let ws = Workspace::new();
    four_lines(&ws);
    let api = FakeApi::start();
    let out = ws.run_against(&api, "lines.txt", &["-q"]);
    assert_exit(&out, 0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert_eq!(api.count(), 4);
    // A nightly re-run with nothing new, and the other commands a cron job might chain.
    for args in [
        vec!["run", "lines.txt", "-q", "--base-url", &api.base_url()],
        vec!["retry", "lines.txt", "-q"],
        vec!["report", "lines.txt", "-q"],
    ] {
        let out = ws.run(&args);
        assert_exit(&out, 0);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("", ""),
            "{args:?}"
        );
    }
    assert_eq!(api.count(), 4, "nothing is requested twice");
}

#[test]
fn a_quiet_run_prints_one_line_per_failed_item_and_nothing_else() {
    let ws = Workspace::new();
    four_lines(&ws);
    let api = FakeApi::builder()
        .fault_when(
            "beta",
            refused("Input not allowed:\nsecond line"),
            usize::MAX,
        )
        .fault_when("delta", refused("Too rude"), usize::MAX)
        .start();
    let out = ws.run_against(&api, "lines.txt", &["-q", "-j", "1"]);
    assert_exit(&out, 1);
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one line per failed item:\n{}", out.stderr);
    assert!(
        lines[0].starts_with("failed: 0002: ")
            && lines[0].contains("Input not allowed:\\nsecond line"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("failed: 0004: ") && lines[1].contains("Too rude"),
        "{}",
        lines[1]
    );

    // The next night: nothing is sent, the items are still failed (until `retry`), and the
    // same lines explain the same exit status.
    let sent = api.count();
    let again = ws.run_against(&api, "lines.txt", &["-q"]);
    assert_exit(&again, 1);
    assert_eq!(again.stderr, out.stderr);
    assert_eq!(api.count(), sent);
}

#[test]
fn a_quiet_run_that_stops_says_why_in_one_line() {
    let ws = Workspace::new();
    four_lines(&ws);
    let api = FakeApi::builder()
        .fault_after(
            2,
            Fault::Status {
                code: 401,
                message: "Incorrect API key provided".into(),
            },
        )
        .start();
    let out = ws.run_against(&api, "lines.txt", &["-q", "-j", "1"]);
    assert_exit(&out, 3);
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].starts_with("stopped: the API refused the request"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_quiet_run_refused_before_it_starts_prints_its_one_error_line() {
    let ws = Workspace::new();
    let out = ws.run(&["run", "missing.txt", "-q"]);
    assert_exit(&out, 2);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
}

#[test]
fn a_quiet_run_while_another_holds_the_queue_exits_4_with_one_line() {
    let ws = Workspace::new();
    four_lines(&ws);
    let api = FakeApi::builder()
        .fault_when("alpha", Fault::Hang, 1)
        .start();
    let mut first = ws
        .run_command(&api, "lines.txt", &["-q", "-j", "1", "--timeout", "600"])
        .spawn()
        .expect("start the first run");
    wait_for("the first run's request", || api.count() >= 1);
    let out = ws.run_against(&api, "lines.txt", &["-q"]);
    assert_exit(&out, 4);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: another run holds the queue"),
        "{}",
        out.stderr
    );
    first.kill().expect("kill the first run");
    let _ = first.wait();
}
