//! Verification (SPEC §11): every piece heard back through the fake API's transcription
//! endpoint, scored against its text, requested again once when it does not match, kept with
//! a warning (or failed with --verify-strict); scores stored in the queue, reported, and never
//! heard twice; `tts-batch verify` hears an existing queue and `--fix` requests what fails.

use crate::support::hearing::Hearing;
use crate::support::server::TRANSCRIPTION_PATH;
use crate::support::*;

/// Lines of distinct lengths: the fake API serves audio by length, and finds the text of the
/// audio it is asked to hear by its bytes.
const LINES: [&str; 3] = [
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "Once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations in it.",
    "So she was considering in her own mind whether the pleasure of making a daisy chain would be worth the trouble.",
];

fn manifest(ws: &Workspace) {
    ws.write("lines.txt", LINES.join("\n") + "\n");
}

fn hearings(api: &FakeApi) -> Vec<server::Recorded> {
    api.requests()
        .into_iter()
        .filter(|r| r.path == TRANSCRIPTION_PATH)
        .collect()
}

fn speech_for(api: &FakeApi, text: &str) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.path != TRANSCRIPTION_PATH && r.input == text)
        .count()
}

const WHISPER: [&str; 3] = ["--verify", "--verify-model", "whisper-1"];

#[test]
fn every_piece_is_heard_back_and_scored() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::start();
    let out = ws.run_against(&api, "lines.txt", &WHISPER);
    assert_exit(&out, 0);
    let heard = hearings(&api);
    assert_eq!(heard.len(), 3);
    for h in &heard {
        assert_eq!(h.status, 200);
        assert_eq!(h.model, "whisper-1");
        assert_eq!(h.format, "verbose_json");
        // The key goes to the transcription endpoint too (the default: the speech key).
        assert_eq!(h.authorization.as_deref(), Some(&*format!("Bearer {KEY}")));
    }
    let report = ws.report("lines-audio");
    for key in ["0001", "0002", "0003"] {
        let it = item(&report, key);
        assert_eq!(it["wer"], 0.0, "{it}");
        assert_eq!(it["verified_pieces"], 1);
    }
    assert_eq!(report["totals"]["verified_pieces"], 3);
    assert_eq!(report["totals"]["wer"], 0.0);
    assert_eq!(report["totals"]["warnings"], 0);
    let csv = std::fs::read_to_string(ws.path("lines-audio/report.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with(",wer,verified_pieces"),
        "{csv}"
    );
}

#[test]
fn a_model_without_verbose_json_is_asked_for_json() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::start();
    // The default model, gpt-4o-mini-transcribe, refuses verbose_json as OpenAI's does.
    let out = ws.run_against(&api, "lines.txt", &["--verify", "-j", "1"]);
    assert_exit(&out, 0);
    let heard = hearings(&api);
    let refused: Vec<_> = heard.iter().filter(|h| h.status == 400).collect();
    assert_eq!(refused.len(), 1, "one refusal, then json: {heard:?}");
    assert_eq!(refused[0].format, "verbose_json");
    let answered: Vec<_> = heard.iter().filter(|h| h.status == 200).collect();
    assert_eq!(answered.len(), 3);
    assert!(
        answered
            .iter()
            .all(|h| h.format == "json" && h.model == "gpt-4o-mini-transcribe")
    );
    assert_eq!(ws.report("lines-audio")["totals"]["verified_pieces"], 3);
}

#[test]
fn a_piece_missing_a_fifth_of_its_words_is_requested_again_once() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .hear_when(LINES[1], Hearing::DropEvery(5), 1)
        .start();
    let out = ws.run_against(&api, "lines.txt", &WHISPER);
    assert_exit(&out, 0);
    assert_eq!(speech_for(&api, LINES[1]), 2, "asked again once");
    assert_eq!(speech_for(&api, LINES[0]), 1);
    assert_eq!(hearings(&api).len(), 4);
    let report = ws.report("lines-audio");
    let it = item(&report, "0002");
    assert_eq!(it["wer"], 0.0, "the second answer matches: {it}");
    assert_eq!(it["warnings"], serde_json::json!([]));
    assert_eq!(report["totals"]["warnings"], 0);
}

#[test]
fn a_piece_that_stays_wrong_is_kept_with_a_warning_and_named_at_the_end() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .hear_when(LINES[2], Hearing::SwapEvery(3), usize::MAX)
        .start();
    let out = ws.run_against(&api, "lines.txt", &WHISPER);
    assert_exit(&out, 0);
    assert_eq!(speech_for(&api, LINES[2]), 2);
    let report = ws.report("lines-audio");
    let it = item(&report, "0003");
    assert_eq!(it["status"], "done");
    let wer = it["wer"].as_f64().unwrap();
    assert!(
        (wer - 7.0 / 21.0).abs() < 1e-3,
        "7 of 21 words swapped: {wer}"
    );
    assert!(
        it["warnings"][0]
            .as_str()
            .unwrap()
            .contains("does not match its text"),
        "{it}"
    );
    assert_eq!(report["totals"]["warnings"], 1);
    assert!(
        out.stderr
            .contains("1 item is over --max-wer 0.17: 0003 (0.33)"),
        "{}",
        out.stderr
    );
}

#[test]
fn verify_strict_fails_an_item_whose_audio_says_nothing() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .hear_when(LINES[0], Hearing::Nothing, usize::MAX)
        .start();
    let out = ws.run_against(
        &api,
        "lines.txt",
        &[&WHISPER[..], &["--verify-strict"]].concat(),
    );
    assert_exit(&out, 1);
    let report = ws.report("lines-audio");
    let it = item(&report, "0001");
    assert_eq!(it["status"], "failed");
    assert!(
        it["error"]
            .as_str()
            .unwrap()
            .contains("word error rate 1.00"),
        "{it}"
    );
    assert_eq!(item(&report, "0002")["status"], "done");
    assert!(!ws.path("lines-audio/0001.mp3").exists());
}

#[test]
fn a_failing_transcription_server_keeps_the_audio_unheard() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .hearing(Hearing::Error(500, "The server had an error".into()))
        .start();
    let out = ws.run_against(&api, "lines.txt", &WHISPER);
    assert_exit(&out, 0);
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["done"], 3);
    assert_eq!(report["totals"]["verified_pieces"], 0);
    assert_eq!(report["totals"]["wer"], serde_json::Value::Null);
    assert_eq!(item(&report, "0001")["wer"], serde_json::Value::Null);
    assert!(out.stderr.contains("not heard back"), "{}", out.stderr);
    // Each speech request went once: the transcription's failures are not the voice's.
    for line in LINES {
        assert_eq!(speech_for(&api, line), 1);
    }
}

#[test]
fn a_resumed_run_hears_nothing_twice_and_a_kill_during_hearing_loses_nothing() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::start();
    let killed = ws
        .run_command(
            &api,
            "lines.txt",
            &[&WHISPER[..], &["--rpm", "6000", "-j", "1"]].concat(),
        )
        .env("TTS_BATCH_FAILPOINT", "hearing-sent")
        .output()
        .unwrap();
    assert_ne!(
        killed.status.code(),
        Some(0),
        "aborted while hearing the first piece"
    );
    assert_eq!(speech_for(&api, LINES[0]), 1);
    assert_eq!(hearings(&api).len(), 0);

    let out = ws.run_against(&api, "lines.txt", &WHISPER);
    assert_exit(&out, 0);
    // The first piece's audio was kept from the killed run, and heard now.
    assert_eq!(speech_for(&api, LINES[0]), 1);
    assert_eq!(hearings(&api).len(), 3);
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["verified_pieces"], 3);
    assert_eq!(item(&report, "0001")["wer"], 0.0);

    api.reset_log();
    let again = ws.run_against(&api, "lines.txt", &WHISPER);
    assert_exit(&again, 0);
    assert_eq!(
        api.count(),
        0,
        "nothing spoken or heard again: {:?}",
        api.requests()
    );
    assert_eq!(ws.report("lines-audio")["totals"]["verified_pieces"], 3);
}

#[test]
fn verify_hears_an_existing_queue_and_fix_requests_only_what_fails() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .hear_when(LINES[1], Hearing::DropEvery(4), 1)
        .start();
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 0);
    assert_eq!(hearings(&api).len(), 0);
    let before = std::fs::read(ws.path("lines-audio/0001.mp3")).unwrap();

    api.reset_log();
    let base = api.base_url();
    let verify = [
        "verify",
        "lines.txt",
        "--base-url",
        &base,
        "--verify-model",
        "whisper-1",
    ];
    let out = ws.run(&verify);
    assert_exit(&out, 0);
    assert_eq!(hearings(&api).len(), 3);
    assert_eq!(api.count(), 3, "nothing spoken again");
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["verified_pieces"], 3);
    let wer = item(&report, "0002")["wer"].as_f64().unwrap();
    assert!(
        (wer - 5.0 / 22.0).abs() < 1e-3,
        "every 4th of 22 words dropped: {wer}"
    );
    assert!(out.stderr.contains("0002"), "{}", out.stderr);

    api.reset_log();
    let out = ws.run(&[&verify[..], &["--fix", "--rpm", "6000"]].concat());
    assert_exit(&out, 0);
    assert_eq!(
        speech_for(&api, LINES[1]),
        1,
        "the failing piece, requested again"
    );
    assert_eq!(speech_for(&api, LINES[0]) + speech_for(&api, LINES[2]), 0);
    let report = ws.report("lines-audio");
    assert_eq!(item(&report, "0002")["wer"], 0.0);
    assert_eq!(item(&report, "0002")["verified_pieces"], 1);
    assert_eq!(report["totals"]["verified_pieces"], 3);
    assert_eq!(
        std::fs::read(ws.path("lines-audio/0001.mp3")).unwrap(),
        before
    );
}

#[test]
fn verify_db_hears_a_queue_without_its_manifest() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .hear_when(LINES[2], Hearing::DropEvery(4), usize::MAX)
        .start();
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 0);
    // The manifest is gone: only the queue and its pieces are left.
    std::fs::remove_file(ws.path("lines.txt")).unwrap();
    std::fs::remove_file(ws.path("lines-audio/report.json")).unwrap();
    api.reset_log();
    let base = api.base_url();
    let verify = [
        "verify",
        "--db",
        "lines-audio/tts-batch.db",
        "--base-url",
        &base,
        "--verify-model",
        "whisper-1",
    ];
    let fix = ws.run(&[&verify[..], &["--fix"]].concat());
    assert_exit(&fix, 2);
    assert!(
        fix.stderr.contains("--fix") && fix.stderr.contains("INPUT"),
        "{}",
        fix.stderr
    );
    assert_eq!(api.count(), 0, "nothing sent for a refused --fix");

    let out = ws.run(&verify);
    assert_exit(&out, 0);
    assert_eq!(hearings(&api).len(), 3);
    assert_eq!(api.count(), 3, "nothing spoken again");
    // The report goes beside the queue, as `status --db` and `report --db` have it.
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["verified_pieces"], 3);
    assert_eq!(item(&report, "0001")["wer"], 0.0);
    assert!(item(&report, "0003")["wer"].as_f64().unwrap() > 0.2);
    assert!(out.stderr.contains("0003"), "{}", out.stderr);

    // Heard once: a second pass sends nothing.
    api.reset_log();
    assert_exit(&ws.run(&verify), 0);
    assert_eq!(api.count(), 0);
    let missing = ws.run(&["verify", "--db", "elsewhere/tts-batch.db"]);
    assert_exit(&missing, 2);
    assert!(missing.stderr.contains("elsewhere"), "{}", missing.stderr);
}

#[test]
fn max_cost_counts_transcription_and_stops_before_the_one_that_would_pass_it() {
    let ws = Workspace::new();
    // Three lines of 100 characters: speech at tts-1's $15 per million characters is $0.0015
    // each; their 5 s of audio heard by whisper-1 at $0.006 a minute, $0.0005 each.
    let line = "a".repeat(99) + ".";
    let text: String = (0..3).map(|i| format!("{i}{}\n", &line[1..])).collect();
    ws.write("lines.txt", text);
    let api = FakeApi::start();
    let base = api.base_url();
    // The stand-in on 127.0.0.1 would be free: priced as a remote server (debug builds only).
    let run = |extra: &[&str]| {
        let mut cmd = ws.run_command(
            &api,
            "lines.txt",
            &[&["--rpm", "6000", "-j", "1"], &WHISPER[..], extra].concat(),
        );
        cmd.env("TTS_BATCH_PRICE_LOOPBACK", "1");
        Output::from(cmd.output().unwrap())
    };
    // Speech 1, its transcription, speech 2: $0.0035; its transcription would make $0.0040.
    let out = run(&["--max-cost", "0.0038"]);
    assert_exit(&out, 3);
    let speech = api.count() - hearings(&api).len();
    assert_eq!(speech, 2, "two speech requests fit");
    assert_eq!(
        hearings(&api).len(),
        1,
        "the second transcription would pass --max-cost: not sent"
    );
    let report = ws.report("lines-audio");
    assert!(
        report["outcome"].as_str().unwrap().contains("--max-cost"),
        "{}",
        report["outcome"]
    );
    let t = &report["totals"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    assert!(
        (f(&t["transcription_cost_usd"]) - 0.0005).abs() < 2e-5,
        "{t}"
    );
    assert!((f(&t["speech_cost_usd"]) - 0.003).abs() < 1e-9, "{t}");
    assert!(
        (f(&t["estimated_cost_usd"]) - f(&t["speech_cost_usd"]) - f(&t["transcription_cost_usd"]))
            .abs()
            < 1e-4,
        "the spend is speech plus transcription: {t}"
    );
    let status = ws.run(&["status", "lines.txt", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        status["progress"]["transcription_cost_usd"],
        t["transcription_cost_usd"]
    );
    let text = ws.run(&["status", "lines.txt"]).stdout;
    assert!(text.contains("of which transcription $0.0005"), "{text}");

    // The rest, with room: the saved piece is adopted and heard, nothing is heard twice.
    api.reset_log();
    let out = run(&[]);
    assert_exit(&out, 0);
    assert_eq!(hearings(&api).len(), 2);
    let t = &ws.report("lines-audio")["totals"];
    assert!(
        (f(&t["transcription_cost_usd"]) - 0.0015).abs() < 5e-5,
        "{t}"
    );

    // `verify` counts it too: one more transcription would pass the limit.
    let other = Workspace::new();
    other.write(
        "lines.txt",
        (0..3)
            .map(|i| format!("{i}{}\n", &line[1..]))
            .collect::<String>(),
    );
    assert_exit(&other.run_against(&api, "lines.txt", &[]), 0);
    api.reset_log();
    let mut cmd = other.command(&[
        "verify",
        "lines.txt",
        "--base-url",
        &base,
        "--verify-model",
        "whisper-1",
        "-j",
        "1",
        "--max-cost",
        "0.0012",
    ]);
    cmd.env("TTS_BATCH_PRICE_LOOPBACK", "1");
    let out = Output::from(cmd.output().unwrap());
    assert_exit(&out, 3);
    assert_eq!(
        hearings(&api).len(),
        2,
        "two fit under $0.0012, a third would not"
    );
    let t = &other.report("lines-audio")["totals"];
    assert!(
        (f(&t["transcription_cost_usd"]) - 0.001).abs() < 4e-5,
        "{t}"
    );
}

/// A workspace with `lines.txt`: the three lines and one more.
fn four_lines() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "lines.txt",
        LINES
            .iter()
            .chain(&["And that was all there was to it, in the end."])
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    ws
}

#[test]
fn a_transcription_never_holds_up_the_next_speech_request() {
    let ws = four_lines();
    // Every answer, speech or transcription, takes half a second.
    let api = FakeApi::builder()
        .latency(std::time::Duration::from_millis(500))
        .start();
    let out = ws.run_against(&api, "lines.txt", &[&WHISPER[..], &["-j", "1"]].concat());
    assert_exit(&out, 0);
    assert_eq!(hearings(&api).len(), 4);
    assert_eq!(api.count(), 8);
    // One worker: had it waited for each transcription, one request would have been in
    // flight at a time. It sends its next piece while the last one is heard; transcriptions
    // have their own -j slots.
    assert_eq!(api.max_in_flight(), 2);
    assert_eq!(api.max_speech_in_flight(), 1);
}

#[test]
fn a_piece_asked_for_again_after_its_transcript_keeps_speech_within_j() {
    let ws = four_lines();
    // The first line is misheard once: its audio is asked for again from the transcription's
    // side while the worker goes on with the next lines.
    let api = FakeApi::builder()
        .latency(std::time::Duration::from_millis(300))
        .hear_when(LINES[0], Hearing::SwapEvery(2), 1)
        .start();
    let out = ws.run_against(&api, "lines.txt", &[&WHISPER[..], &["-j", "1"]].concat());
    assert_exit(&out, 0);
    // Four lines, one asked for again: five speech requests and five transcriptions.
    assert_eq!(hearings(&api).len(), 5);
    assert_eq!(api.count(), 10);
    assert_eq!(api.max_speech_in_flight(), 1, "speech went past -j 1");
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["done"], 4);
    assert_eq!(report["totals"]["warnings"], 0);
}

#[test]
fn status_shows_what_was_heard() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .hear_when(LINES[0], Hearing::SwapEvery(2), usize::MAX)
        .start();
    let out = ws.run_against(
        &api,
        "lines.txt",
        &[&WHISPER[..], &["--max-wer", "0.9"]].concat(),
    );
    assert_exit(&out, 0);
    let text = ws.run(&["status", "lines.txt"]);
    assert_exit(&text, 0);
    assert!(
        text.stdout
            .contains("heard back: 3 pieces, word error rate 0.121"),
        "{}",
        text.stdout
    );
    let json = ws.run(&["status", "lines.txt", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(status["progress"]["verified_pieces"], 3);
    let wer = status["progress"]["wer"].as_f64().unwrap();
    // 7 of the first line's 15 words swapped, none of the 43 others: 7 / 58.
    assert!((wer - 7.0 / 58.0).abs() < 1e-3, "{wer}");
}

#[test]
fn plan_prices_transcription_per_audio_minute_and_a_local_server_is_free() {
    let ws = Workspace::new();
    manifest(&ws);
    let plan = |verify_base: &str| -> serde_json::Value {
        let out = ws.run(&[
            "plan",
            "lines.txt",
            "--json",
            "--verify",
            "--verify-base-url",
            verify_base,
        ]);
        assert_exit(&out, 0);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let paid = plan("https://relay.example.com/v1");
    let chars = paid["totals"]["characters_to_send"].as_f64().unwrap();
    let minutes = chars / 15.0 / 60.0;
    let cost = paid["totals"]["transcription_cost_usd"].as_f64().unwrap();
    // gpt-4o-mini-transcribe, the default: $0.003 a minute.
    assert!(
        (cost - minutes * 0.003).abs() < 1e-4,
        "{cost} for {minutes} minutes"
    );
    let speech = chars * 15.0 / 1e6;
    let total = paid["totals"]["estimated_cost_usd"].as_f64().unwrap();
    assert!((total - speech - cost).abs() < 1e-4, "{total}");
    let local = plan("http://127.0.0.1:9/v1");
    assert_eq!(local["totals"]["transcription_cost_usd"], 0.0);
    let text = ws.run(&[
        "plan",
        "lines.txt",
        "--verify",
        "--verify-model",
        "whisper-1",
        "--verify-base-url",
        "https://relay.example.com/v1",
    ]);
    assert!(
        text.stdout
            .contains("heard back by whisper-1 at https://relay.example.com/v1"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("at $0.006 a minute"),
        "{}",
        text.stdout
    );
}
