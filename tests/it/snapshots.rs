//! Snapshots of the text outputs a user reads: `--help` of the program and of every command,
//! `plan` of an example manifest and of an EPUB, and a report in Markdown and JSON, with times, ports and
//! paths redacted. A change of wording shows up as a snapshot diff (`cargo insta review`).

use crate::support::*;

/// The binary's stdout for `args`, at a fixed help width.
fn stdout_of(ws: &Workspace, args: &[&str]) -> String {
    let out = ws
        .command(args)
        .env("COLUMNS", "100")
        .output()
        .expect("run tts-batch");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn help_texts() {
    let ws = Workspace::new();
    insta::assert_snapshot!("help", stdout_of(&ws, &["--help"]));
    for cmd in [
        "run",
        "plan",
        "status",
        "report",
        "retry",
        "completions",
        "man",
    ] {
        insta::assert_snapshot!(format!("help-{cmd}"), stdout_of(&ws, &[cmd, "--help"]));
    }
}

#[test]
fn plan_of_the_example_csv() {
    let ws = Workspace::new();
    let csv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quotes.csv"))
        .expect("examples/quotes.csv");
    ws.write("quotes.csv", csv);
    insta::assert_snapshot!("plan-quotes", stdout_of(&ws, &["plan", "quotes.csv"]));
}

#[test]
fn plan_of_an_epub() {
    let ws = Workspace::new();
    ws.corpus("jekyll-hyde.epub");
    insta::assert_snapshot!(
        "plan-jekyll-hyde",
        stdout_of(&ws, &["plan", "jekyll-hyde.epub"])
    );
}

#[test]
fn report_of_a_finished_run() {
    let ws = Workspace::new();
    ws.write(
        "lines.txt",
        "First line.\nSecond line, a little longer.\nThird.\n",
    );
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "lines.txt", &["-q"]), 0);
    let root = ws.root().display().to_string();

    let md = stdout_of(&ws, &["report", "lines.txt", "--format", "md"]).replace(&root, "[ws]");
    insta::assert_snapshot!("report-md", md);

    let json = stdout_of(&ws, &["report", "lines.txt", "--format", "json"]);
    let mut json: serde_json::Value = serde_json::from_str(&json).expect("report parses");
    for field in ["started_at", "finished_at", "elapsed_seconds"] {
        json[field] = "[time]".into();
    }
    json["settings"]["base_url"] = "[fake api]".into();
    let json = serde_json::to_string_pretty(&json)
        .expect("json prints")
        .replace(&root, "[ws]");
    insta::assert_snapshot!("report-json", json);
}
