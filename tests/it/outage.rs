//! Outages: an API that cannot be reached stops the run resumably (exit 3, items pending, the
//! report written) instead of failing the book; an untrusted certificate stops it at once.

use crate::support::outage::{UntrustedTls, refused_addr};
use crate::support::*;

/// The outage spell, shortened for the tests (the default is in the README).
const SPELL: (&str, &str) = ("TTS_BATCH_OUTAGE_SECS", "2");

fn three_lines(ws: &Workspace) {
    ws.write("lines.txt", "One line.\nTwo lines.\nThree lines.\n");
}

#[track_caller]
fn stopped_with_all_pending(ws: &Workspace, out: &Output, items: u64) {
    assert_exit(out, 3);
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["pending"], items, "{report:#}");
    assert_eq!(report["totals"]["failed"], 0, "{report:#}");
    assert!(
        ws.files().iter().all(|f| !f.ends_with(".tts-tmp")),
        "{:?}",
        ws.files()
    );
}

#[test]
fn a_refused_connection_stops_the_run_and_the_same_command_resumes() {
    let ws = Workspace::new();
    three_lines(&ws);
    let addr = refused_addr();
    let base = format!("http://{addr}/v1");
    // Few attempts: were connection failures counted as attempts, the items would fail.
    let args = [
        "run",
        "lines.txt",
        "--base-url",
        &base,
        "--max-attempts",
        "2",
    ];
    let out = ws.command(&args).env(SPELL.0, SPELL.1).output().unwrap();
    let out = Output::from(out);
    stopped_with_all_pending(&ws, &out, 3);
    assert!(out.stderr.contains("unreachable"), "{}", out.stderr);
    let outcome = ws.report("lines-audio")["outcome"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(outcome.contains("unreachable"), "{outcome}");

    // The API is back on the same address: the same command finishes the job.
    let api = FakeApi::builder().start_on(addr);
    let again = ws.command(&args).env(SPELL.0, SPELL.1).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(api.count(), 3);
    assert_eq!(ws.report("lines-audio")["totals"]["done"], 3);
}

#[test]
fn connections_reset_by_the_server_are_an_outage_too() {
    let ws = Workspace::new();
    three_lines(&ws);
    let api = FakeApi::builder().fault_after(0, Fault::Reset).start();
    let base = api.base_url();
    let args = [
        "run",
        "lines.txt",
        "--base-url",
        &base,
        "--max-attempts",
        "2",
    ];
    let out = ws.command(&args).env(SPELL.0, SPELL.1).output().unwrap();
    let out = Output::from(out);
    stopped_with_all_pending(&ws, &out, 3);
    assert!(api.requests().iter().all(|r| r.status == 0), "only resets");

    api.clear_faults();
    api.reset_log();
    let again = ws.command(&args).env(SPELL.0, SPELL.1).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(api.count(), 3);
}

#[test]
fn an_answer_from_the_server_is_no_outage() {
    // 500s are answers: the run is not "unreachable". The same 500 on every attempt, with none
    // succeeding, stops it after a handful (the persistent-server-error rule), items pending.
    let ws = Workspace::new();
    three_lines(&ws);
    let api = FakeApi::builder().fault_after(0, Fault::Status500).start();
    let base = api.base_url();
    let args = [
        "run",
        "lines.txt",
        "--base-url",
        &base,
        "--max-attempts",
        "2",
    ];
    let out = ws.command(&args).env(SPELL.0, SPELL.1).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("every request got the same answer"),
        "{stderr}"
    );
    assert!(!stderr.contains("unreachable"), "{stderr}");
    assert_eq!(api.count(), 5);
}

#[test]
fn an_untrusted_certificate_stops_the_run_at_once() {
    let ws = Workspace::new();
    three_lines(&ws);
    let tls = UntrustedTls::start();
    let base = tls.base_url();
    let out = ws.run(&[
        "run",
        "lines.txt",
        "--base-url",
        &base,
        "-j",
        "2",
        "--max-attempts",
        "2",
    ]);
    stopped_with_all_pending(&ws, &out, 3);
    let last = out.stderr.lines().last().unwrap_or_default().to_owned();
    assert!(
        out.stderr.lines().any(|l| l.contains("certificate")),
        "no line says \"certificate\": {}",
        out.stderr
    );
    assert!(!last.is_empty());
    // No retry: at most one handshake per worker.
    assert!(
        tls.connections() <= 2,
        "{} handshakes: {}",
        tls.connections(),
        out.stderr
    );
}
