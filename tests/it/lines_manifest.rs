//! Plain-text manifests end to end: one file per line, one request per piece, nothing twice.

use crate::support::decode::decoded_seconds;
use crate::support::*;

#[test]
fn each_line_becomes_a_decodable_file_and_the_report_is_true() {
    let ws = Workspace::new();
    ws.write(
        "lines.txt",
        "The first line.\n\nA second line, longer than the first.\nThird.\n",
    );
    let api = FakeApi::start();
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 0);

    assert_eq!(api.count(), 3, "one request per line");
    for (key, text) in [
        ("0001", "The first line."),
        ("0003", "A second line, longer than the first."),
        ("0004", "Third."),
    ] {
        let file = ws.path(&format!("lines-audio/{key}.mp3"));
        let expected = served_seconds(&api, text);
        assert_seconds(decoded_seconds(&file).unwrap(), expected);
        let report = ws.report("lines-audio");
        let item = item(&report, key);
        assert_eq!(item["status"], "done");
        assert_eq!(item["output"], format!("{key}.mp3"));
        assert_eq!(item["chunks"], 1);
        assert_eq!(item["attempts"], 1);
        assert_seconds(item["audio_seconds"].as_f64().unwrap(), expected);
    }
    let report = ws.report("lines-audio");
    let totals = &report["totals"];
    assert_eq!(
        (
            totals["items"].as_u64(),
            totals["done"].as_u64(),
            totals["requests"].as_u64()
        ),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(totals["failed"], 0);
    assert_eq!(report["settings"]["model"], "tts-1");
    let csv = std::fs::read_to_string(ws.path("lines-audio/report.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // The request is what the API documents: model, voice, format; no speed or instructions.
    let first = &api.requests()[0];
    assert_eq!(
        (
            first.model.as_str(),
            first.voice.as_str(),
            first.format.as_str()
        ),
        ("tts-1", "alloy", "mp3")
    );
    assert_eq!(
        first.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(first.body.get("speed"), None);
    assert_eq!(first.body.get("instructions"), None);
}

#[test]
fn a_rerun_sends_nothing_and_an_edited_line_costs_one_request() {
    let ws = Workspace::new();
    ws.write("lines.txt", "Alpha line.\nBeta line.\nGamma line.\n");
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(api.count(), 3);

    api.reset_log();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(api.count(), 0, "a finished job sends nothing");

    ws.write(
        "lines.txt",
        "Alpha line.\nBeta line, edited.\nGamma line.\n",
    );
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    let inputs: Vec<String> = api.requests().into_iter().map(|r| r.input).collect();
    assert_eq!(inputs, ["Beta line, edited."]);
    assert_seconds(
        decoded_seconds(&ws.path("lines-audio/0002.mp3")).unwrap(),
        served_seconds(&api, "Beta line, edited."),
    );
    assert_eq!(ws.report("lines-audio")["totals"]["done"], 3);
}

#[test]
fn moved_and_repeated_text_is_never_requested_again() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One fish.\nTwo fish.\n");
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(api.count(), 2);

    // A line inserted on top renumbers the others; a repeated line costs nothing either.
    api.reset_log();
    ws.write("lines.txt", "Red fish.\nOne fish.\nTwo fish.\nOne fish.\n");
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    let inputs: Vec<String> = api.requests().into_iter().map(|r| r.input).collect();
    assert_eq!(inputs, ["Red fish."]);
    let one = decoded_seconds(&ws.path("lines-audio/0002.mp3")).unwrap();
    assert_seconds(
        decoded_seconds(&ws.path("lines-audio/0004.mp3")).unwrap(),
        one,
    );
    assert_eq!(ws.report("lines-audio")["totals"]["done"], 4);
}

#[test]
fn long_lines_are_split_and_joined_with_exact_duration_in_every_joinable_format() {
    let long: String = (1..=12)
        .map(|i| format!("Sentence number {i} is one of many in a long line of text. "))
        .collect();
    // A line of one sentence said over and over: its pieces are all the same piece.
    let echo = "Echo, echo, echo again. ".repeat(20);
    for format in ["mp3", "aac", "wav", "pcm"] {
        let ws = Workspace::new();
        ws.write(
            "long.txt",
            format!(
                "{}
Short one.
{}
",
                long.trim(),
                echo.trim()
            ),
        );
        let api = FakeApi::start();
        let out = ws.run_against(
            &api,
            "long.txt",
            &["--max-chars", "120", "--audio-format", format],
        );
        assert_exit(&out, 0);
        let requests = api.requests();
        assert!(
            requests
                .iter()
                .all(|r| r.input.chars().count() <= 120 && r.format == format)
        );
        let distinct: std::collections::HashSet<_> =
            requests.iter().map(|r| r.input.clone()).collect();
        assert_eq!(
            distinct.len(),
            requests.len(),
            "{format}: a piece was requested twice"
        );

        let report = ws.report("long-audio");
        for (key, text) in [("0001", long.as_str()), ("0003", echo.as_str())] {
            let item = item(&report, key);
            let pieces = tts_batch::chunk::pieces(&tts_batch::chunk::normalize(text), 120);
            assert!(pieces.len() >= 4, "{format}: {} pieces", pieces.len());
            assert_eq!(item["chunks"].as_u64(), Some(pieces.len() as u64));
            // The joined file lasts exactly as long as its pieces, each counted as often as it occurs.
            let expected: f64 = pieces.iter().map(|t| served_seconds(&api, t)).sum();
            let file = ws.path(&format!("long-audio/{key}.{format}"));
            assert_seconds(decoded_seconds(&file).unwrap(), expected);
            assert_seconds(item["audio_seconds"].as_f64().unwrap(), expected);
        }
        let echo_requests = requests
            .iter()
            .filter(|r| r.input.starts_with("Echo"))
            .count();
        assert_eq!(
            echo_requests, 1,
            "{format}: the repeated piece is requested once"
        );
    }
}

#[test]
fn plan_sends_nothing_and_writes_nothing() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One.\nTwo.\nThree.\n");
    let api = FakeApi::start();
    let out = ws.run(&["plan", "lines.txt", "--base-url", &api.base_url()]);
    assert_exit(&out, 0);
    assert!(out.stdout.contains("3 items, 3 pieces"), "{}", out.stdout);
    assert!(out.stdout.contains("3 requests to send"), "{}", out.stdout);
    assert_eq!(api.count(), 0);
    assert_eq!(ws.files(), ["lines.txt"]);

    // After a run, plan knows what is done.
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    let out = ws.run(&["plan", "lines.txt"]);
    assert!(out.stdout.contains("0 requests to send"), "{}", out.stdout);
}

#[test]
fn items_dropped_from_the_manifest_are_never_paid_for_after_a_stop() {
    let ws = Workspace::new();
    let lines: String = (1..=12).map(|i| format!("Numbered line {i}.\n")).collect();
    ws.write("lines.txt", &lines);
    let api = FakeApi::builder()
        .latency(std::time::Duration::from_millis(50))
        .start();
    let mut child = ws
        .run_command(&api, "lines.txt", &["--rpm", "6000", "-j", "1", "-q"])
        .spawn()
        .unwrap();
    wait_for("two answers", || api.successes().len() >= 2);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the kill landed before the run ended"
    );

    // The rest of the book is cut: only the first three lines remain.
    ws.write(
        "lines.txt",
        "Numbered line 1.\nNumbered line 2.\nNumbered line 3.\n",
    );
    api.reset_log();
    assert_exit(&ws.run_against(&api, "lines.txt", &["-j", "4"]), 0);
    for r in api.requests() {
        assert!(
            ["Numbered line 1.", "Numbered line 2.", "Numbered line 3."]
                .contains(&r.input.as_str()),
            "{:?} was dropped from the manifest but requested",
            r.input
        );
    }
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["done"], 3);
    assert_eq!(report["totals"]["removed"], 9);
}
