//! Local OpenAI-compatible servers (a Piper or Kokoro server on this machine): no key, `pcm` at
//! the rate the server states, and a server that fails everything the same way stops the run.

use crate::support::*;

fn lines(ws: &Workspace, n: usize) {
    let text: String = (1..=n)
        .map(|i| format!("Line number {i} is here.\n"))
        .collect();
    ws.write("lines.txt", text);
}

#[test]
fn a_loopback_server_needs_no_key_and_gets_no_authorization_header() {
    let ws = Workspace::new();
    lines(&ws, 3);
    let api = FakeApi::builder().no_key().start();
    let base = api.base_url();
    let out = ws
        .command(&["run", "lines.txt", "--base-url", &base, "--rpm", "6000"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .map(Output::from)
        .unwrap();
    assert_exit(&out, 0);
    let requests = api.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests.iter().all(|r| r.authorization.is_none()),
        "{requests:?}"
    );
    // A key that is set is still sent (a local server may want one).
    let ws = Workspace::new();
    lines(&ws, 1);
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 0);
    assert_eq!(
        api.requests().last().unwrap().authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn a_remote_server_still_needs_a_key() {
    let ws = Workspace::new();
    lines(&ws, 1);
    let out = ws
        .command(&["plan", "lines.txt"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .map(Output::from)
        .unwrap();
    assert_exit(&out, 0);
    let out = ws
        .command(&["run", "lines.txt", "--base-url", "https://relay.invalid/v1"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .map(Output::from)
        .unwrap();
    assert_exit(&out, 2);
    assert!(out.stderr.contains("OPENAI_API_KEY"), "{}", out.stderr);
}

#[test]
fn pcm_at_the_rate_the_server_states_is_measured_at_that_rate() {
    let ws = Workspace::new();
    ws.write(
        "lines.txt",
        "A first line of some length to speak.\nA second one.\n",
    );
    let api = FakeApi::builder().no_key().pcm_rate(22_050).start();
    let out = ws.run_against(
        &api,
        "lines.txt",
        &[
            "--audio-format",
            "pcm",
            "--max-chars",
            "20",
            "--pause-ms",
            "100",
        ],
    );
    assert_exit(&out, 0);
    let report = ws.report("lines-audio");
    for key in ["0001", "0002"] {
        let it = item(&report, key);
        let text = if key == "0001" {
            "A first line of some length to speak."
        } else {
            "A second one."
        };
        let pieces: Vec<_> = api
            .successes()
            .into_iter()
            .filter(|r| text.contains(r.input.as_str()))
            .collect();
        let served: f64 = pieces.iter().map(|r| r.audio_seconds.unwrap()).sum();
        let pauses = 0.1 * (pieces.len() as f64 - 1.0);
        let reported = it["audio_seconds"].as_f64().unwrap();
        // Stated at 22,050 Hz, kept at the 24 kHz `pcm` means: within a sample per piece.
        assert!(
            (reported - (served + pauses)).abs() < 2e-4 * pieces.len() as f64,
            "{key}: reported {reported}, served {served} + pauses {pauses}"
        );
        let bytes = std::fs::metadata(ws.path(&format!("lines-audio/{key}.pcm")))
            .unwrap()
            .len();
        assert!(
            (bytes as f64 / 48_000.0 - reported).abs() < 1e-6,
            "{key}: the file holds 24 kHz samples"
        );
    }
}

#[test]
fn the_same_server_error_on_every_attempt_stops_the_run_after_a_handful() {
    let ws = Workspace::new();
    lines(&ws, 30);
    let message = "no default voice: pass a voice the server has";
    let api = FakeApi::builder()
        .no_key()
        .fault_after(
            0,
            Fault::Status {
                code: 503,
                message: message.into(),
            },
        )
        .start();
    let out = ws.run_against(&api, "lines.txt", &["-j", "4"]);
    assert_exit(&out, 3);
    assert!(out.stderr.contains(message), "{}", out.stderr);
    // A handful: the fifth failure in a row stops it, and the workers already waiting finish.
    assert!(api.count() <= 8, "{} requests", api.count());
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["pending"], 30);
    assert_eq!(report["totals"]["failed"], 0);
    assert!(
        report["outcome"].as_str().unwrap().contains(message),
        "{}",
        report["outcome"]
    );
}
