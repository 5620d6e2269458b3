//! `--provider realtime`: OpenAI's Realtime API over a WebSocket, against the stand-in of
//! `support/realtime.rs`: every format, the verbatim check, costs from usage, errors, drops,
//! refused upgrades, and resume after `kill -9`.

use crate::support::decode::decoded_seconds;
use crate::support::realtime::{audio_tokens, text_tokens};
use crate::support::*;

fn run_rt(ws: &Workspace, api: &RealtimeApi, input: &str, extra: &[&str]) -> Output {
    let base = api.base_url();
    let mut args = vec!["run", input, "--provider", "realtime", "--base-url", &base];
    args.extend_from_slice(extra);
    ws.run(&args)
}

const BOOK: &str = "# One\n\nThe first chapter has two sentences in it. It is short.\n\n\
# Two\n\nThe second chapter is a little longer than the first one, and it says so.\n";

#[test]
fn every_format_is_the_audio_the_session_sent_in_one_out_of_band_response_per_piece() {
    for format in ["mp3", "opus", "flac", "wav", "pcm"] {
        let ws = Workspace::new();
        ws.write("book.md", BOOK);
        let api = RealtimeApi::start();
        let out = run_rt(
            &ws,
            &api,
            "book.md",
            &["--audio-format", format, "--max-chars", "50", "-j", "2"],
        );
        assert_exit(&out, 0);
        let requests = api.requests();
        assert!(
            requests.len() >= 4,
            "{format}: pieces of at most 50 characters"
        );
        for r in &requests {
            assert_eq!(r.model, "gpt-realtime-2.1-mini", "{format}");
            assert_eq!(r.voice, "marin", "{format}");
            assert_eq!(r.conversation, "none", "{format}: out of band");
            assert!(r.instructions.contains("exactly as written"), "{format}");
            assert_eq!(
                r.authorization.as_deref(),
                Some(format!("Bearer {KEY}").as_str())
            );
        }
        // One session per worker, reused: never more than -j.
        assert!(
            api.connections() <= 2,
            "{format}: {} connections",
            api.connections()
        );
        let report = ws.report("book-audio");
        assert_eq!(report["settings"]["provider"], "realtime");
        // Every piece was answered once: the two chapter files hold all the audio sent, within
        // what each codec adds (LAME's encoder delay and padding in whole 24 ms frames, Opus's
        // 20 ms frames) and exactly for wav, flac and pcm.
        let served: f64 = requests.iter().map(|r| r.audio_seconds.unwrap()).sum();
        let mut decoded = 0.0;
        for key in ["01-one", "02-two"] {
            let path = ws.path(&format!("book-audio/{key}.{format}"));
            let seconds = if format == "pcm" {
                std::fs::metadata(&path).unwrap().len() as f64 / 48_000.0
            } else {
                decoded_seconds(&path).unwrap()
            };
            let reported = item(&report, key)["audio_seconds"].as_f64().unwrap();
            assert!(
                (seconds - reported).abs() < 0.03,
                "{format} {key}: {seconds} vs {reported}"
            );
            decoded += seconds;
        }
        let tolerance = match format {
            "mp3" => 0.08 * requests.len() as f64,
            "opus" => 0.021 * requests.len() as f64,
            _ => 0.001,
        };
        assert!(
            (decoded - served).abs() <= tolerance,
            "{format}: decoded {decoded}, served {served}"
        );
    }
}

#[test]
fn aac_is_refused_before_anything_is_sent() {
    let ws = Workspace::new();
    ws.write("book.md", BOOK);
    let api = RealtimeApi::start();
    let out = run_rt(&ws, &api, "book.md", &["--audio-format", "aac"]);
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("aac is not available with --provider realtime"),
        "{}",
        out.stderr
    );
    assert_eq!(api.connections(), 0);
}

#[test]
fn a_reworded_reading_is_asked_again_firmly_and_one_that_stays_wrong_is_kept_with_a_warning() {
    let ws = Workspace::new();
    ws.write(
        "lines.txt",
        "The quick brown fox jumps over the lazy dog today.\n\
         What is the capital of France, do you think?\n\
         A stubborn sentence that the voice will never read right.\n",
    );
    let api = RealtimeApi::builder()
        .fault_when("quick brown", RtFault::RewordOnce, usize::MAX)
        .fault_when("capital of France", RtFault::Answer, usize::MAX)
        .fault_when("stubborn", RtFault::RewordAlways, usize::MAX)
        .start();
    let out = run_rt(&ws, &api, "lines.txt", &["-j", "1"]);
    assert_exit(&out, 0);
    let asked = |needle: &str| {
        api.requests()
            .into_iter()
            .filter(|r| r.text.contains(needle))
            .collect::<Vec<_>>()
    };
    for needle in ["quick brown", "capital of France", "stubborn"] {
        let requests = asked(needle);
        assert_eq!(requests.len(), 2, "{needle}: once, then once more");
        assert!(
            !requests[0].instructions.contains("did not match"),
            "{needle}"
        );
        assert!(
            requests[1].instructions.contains("did not match"),
            "{needle}: firmer"
        );
    }
    let report = ws.report("lines-audio");
    assert_eq!(item(&report, "0001")["warnings"], serde_json::json!([]));
    for key in ["0002", "0003"] {
        let warnings = item(&report, key)["warnings"].to_string();
        assert!(
            warnings.contains("transcript does not match"),
            "{key}: {warnings}"
        );
    }
    assert_eq!(report["totals"]["warnings"], 2);
    assert!(out.stderr.contains("2 items have"), "{}", out.stderr);
    // The voice's own transcripts are scored and kept per piece, without --verify: the
    // report gives each item's rate and the word-weighted total.
    assert_eq!(item(&report, "0001")["wer"], 0.0);
    for key in ["0001", "0002", "0003"] {
        assert_eq!(item(&report, key)["verified_pieces"], 1, "{key}");
    }
    for key in ["0002", "0003"] {
        let wer = item(&report, key)["wer"].as_f64().expect("a rate");
        assert!(wer > 0.18, "{key}: {wer}");
    }
    assert_eq!(report["totals"]["verified_pieces"], 3);
    let total = report["totals"]["wer"].as_f64().expect("a total rate");
    assert!(total > 0.0 && total < 1.5, "{total}");
}

#[test]
fn the_report_bills_the_usage_of_every_response_at_the_published_prices() {
    let ws = Workspace::new();
    ws.write(
        "lines.txt",
        "One line to say.\nAnother line to say, longer.\n",
    );
    let api = RealtimeApi::start();
    let out = run_rt(&ws, &api, "lines.txt", &[]);
    assert_exit(&out, 0);
    let (text, audio) = api
        .requests()
        .iter()
        .map(|r| r.usage.unwrap())
        .fold((0, 0), |(t, a), (ti, ao)| (t + ti, a + ao));
    let expected = text as f64 * 0.60 / 1e6 + audio as f64 * 20.0 / 1e6;
    let report = ws.report("lines-audio");
    let t = &report["totals"];
    assert!(
        (t["billed_usd"].as_f64().unwrap() - expected).abs() < 1e-6,
        "{t}"
    );
    assert_eq!(t["billed_tokens"]["text_input"], text);
    assert_eq!(t["billed_tokens"]["audio_output"], audio);
    assert!((t["estimated_cost_usd"].as_f64().unwrap() - expected).abs() < 1e-4);
    let status = ws.run(&["status", "lines.txt", "--json"]);
    assert_exit(&status, 0);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(
        (status["progress"]["billed_usd"].as_f64().unwrap() - expected).abs() < 1e-6,
        "{status}"
    );
    // The stand-in's usage is its own count of the text and the audio it sent.
    let r = &api.requests()[0];
    assert_eq!(
        r.usage.unwrap(),
        (
            text_tokens(&r.instructions) + text_tokens(&r.text),
            audio_tokens(r.audio_seconds.unwrap())
        )
    );
}

#[test]
fn error_events_failed_responses_and_drops_are_retried_and_nothing_half_written_is_kept() {
    for fault in [
        RtFault::RateLimit,
        RtFault::ServerError,
        RtFault::Failed,
        RtFault::Drop,
    ] {
        let ws = Workspace::new();
        ws.write(
            "lines.txt",
            "Line alpha is here.\nLine beta is here.\nLine gamma is here.\n",
        );
        let api = RealtimeApi::builder()
            .fault_when("beta", fault.clone(), 1)
            .start();
        let out = run_rt(&ws, &api, "lines.txt", &[]);
        assert_exit(&out, 0);
        let beta: Vec<_> = api
            .requests()
            .into_iter()
            .filter(|r| r.text.contains("beta"))
            .collect();
        assert_eq!(beta.len(), 2, "{fault:?}: the fault, then a whole answer");
        let report = ws.report("lines-audio");
        assert_eq!(item(&report, "0002")["attempts"], 2, "{fault:?}");
        let decoded = decoded_seconds(&ws.path("lines-audio/0002.mp3")).unwrap();
        assert!(
            (decoded - beta[1].audio_seconds.unwrap()).abs() < 0.08,
            "{fault:?}: decoded {decoded}, served {:?}, reported {}",
            beta[1].audio_seconds,
            item(&report, "0002")["audio_seconds"]
        );
        assert!(
            ws.files().iter().all(|f| !f.ends_with(".tts-tmp")),
            "{fault:?}"
        );
        if fault == RtFault::Drop {
            assert!(api.connections() >= 2, "a new session after the drop");
        }
    }
}

#[test]
fn a_bad_key_or_a_refused_upgrade_stops_the_run_and_a_busy_server_is_waited_for() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\nTwo lines.\n");
    let api = RealtimeApi::builder()
        .key(Some("sk-other-key-000000"))
        .start();
    let out = run_rt(&ws, &api, "lines.txt", &[]);
    assert_exit(&out, 3);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(!out.stderr.contains(KEY), "the key never shows");
    assert_eq!(ws.report("lines-audio")["totals"]["pending"], 2);

    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\nTwo lines.\n");
    let api = RealtimeApi::builder()
        .fault_when("Two", RtFault::BadKey, 1)
        .start();
    let out = run_rt(&ws, &api, "lines.txt", &["-j", "1"]);
    assert_exit(&out, 3);
    assert!(out.stderr.contains("invalid_api_key"), "{}", out.stderr);

    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\n");
    let api = RealtimeApi::builder()
        .refuse(404, "The model does not exist.")
        .start();
    let out = run_rt(&ws, &api, "lines.txt", &[]);
    assert_exit(&out, 3);
    assert!(out.stderr.contains("--model"), "{}", out.stderr);
}

#[test]
fn a_loopback_realtime_server_needs_no_key() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\n");
    let api = RealtimeApi::builder().key(None).start();
    let base = api.base_url();
    let out = ws
        .command(&[
            "run",
            "lines.txt",
            "--provider",
            "realtime",
            "--base-url",
            &base,
        ])
        .env_remove("OPENAI_API_KEY")
        .output()
        .map(Output::from)
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(api.requests()[0].authorization, None);
}

#[test]
fn a_run_killed_halfway_resumes_without_asking_twice() {
    let ws = Workspace::new();
    let text: String = (1..=24)
        .map(|i| format!("This is line number {i} of the book.\n"))
        .collect();
    ws.write("book.txt", text);
    let api = RealtimeApi::builder().ms_per_char(60).start();
    let base = api.base_url();
    let mut child = ws
        .command(&[
            "run",
            "book.txt",
            "--provider",
            "realtime",
            "--base-url",
            &base,
            "-j",
            "2",
            "-q",
        ])
        .spawn()
        .unwrap();
    wait_for("eight answers", || api.completed().len() >= 8);
    child.kill().unwrap();
    let _ = child.wait();
    let first = api.requests().len();
    let out = run_rt(&ws, &api, "book.txt", &["-j", "2"]);
    assert_exit(&out, 0);
    let requests = api.requests();
    let mut asked: std::collections::HashMap<&str, usize> = Default::default();
    for r in &requests {
        *asked.entry(r.text.as_str()).or_default() += 1;
    }
    let twice = asked.values().filter(|n| **n > 1).count();
    assert!(
        twice <= 2,
        "{twice} lines asked twice; at most the 2 in flight at the kill"
    );
    assert!(requests.len() > first);
    assert_eq!(ws.report("book-audio")["totals"]["done"], 24);
}

#[test]
fn from_the_shutdown_day_a_new_queue_at_openai_uses_realtime_and_an_old_one_keeps_its_model() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\n");
    let plan = |ws: &Workspace, today: &str| {
        let out = ws
            .command(&["plan", "lines.txt", "--json"])
            .env("TTS_BATCH_TODAY", today)
            .output()
            .map(Output::from)
            .unwrap();
        assert_exit(&out, 0);
        serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(plan(&ws, "2027-01-05")["settings"]["provider"], "openai");
    let after = plan(&ws, "2027-01-06");
    assert_eq!(after["settings"]["provider"], "realtime");
    assert_eq!(after["settings"]["model"], "gpt-realtime-2.1-mini");
    assert_eq!(after["settings"]["voice"], "marin");
    // A queue made before the day keeps its settings.
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(plan(&ws, "2027-01-06")["settings"]["provider"], "openai");
}

#[test]
fn a_session_at_its_time_limit_is_replaced_before_the_next_piece() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\nTwo lines.\nThree lines.\n");
    let api = RealtimeApi::start();
    let base = api.base_url();
    let out = ws
        .command(&[
            "run",
            "lines.txt",
            "--provider",
            "realtime",
            "--base-url",
            &base,
            "-j",
            "1",
        ])
        .env("TTS_BATCH_SESSION_SECS", "0")
        .output()
        .map(Output::from)
        .unwrap();
    assert_exit(&out, 0);
    // A limit of 0 s: every piece finds its session too old and opens a new one.
    assert_eq!(api.connections(), 3);
    let reused = RealtimeApi::start();
    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\nTwo lines.\nThree lines.\n");
    assert_exit(&run_rt(&ws, &reused, "lines.txt", &["-j", "1"]), 0);
    assert_eq!(
        reused.connections(),
        1,
        "one session for the worker, reused"
    );
}

#[test]
fn max_cost_counts_the_billed_spend_and_stops_before_passing_it() {
    let ws = Workspace::new();
    let text: String = (1..=12)
        .map(|i| format!("Line number {i} to say.\n"))
        .collect();
    ws.write("lines.txt", text);
    let api = RealtimeApi::start();
    let out = run_rt(&ws, &api, "lines.txt", &["-j", "1", "--max-cost", "0.002"]);
    assert_exit(&out, 3);
    let report = ws.report("lines-audio");
    let billed = report["totals"]["billed_usd"].as_f64().unwrap();
    assert!(billed <= 0.002, "billed {billed}");
    let done = report["totals"]["done"].as_u64().unwrap();
    assert!((2..12).contains(&done), "{done} done");
    assert!(report["outcome"].as_str().unwrap().contains("--max-cost"));
}
