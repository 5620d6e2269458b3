//! What the API does wrong, and what the run does about it: retries, failed items, stops.

use crate::support::decode::decoded_seconds;
use crate::support::*;

fn three_lines(ws: &Workspace) {
    ws.write("lines.txt", "Line alpha.\nLine beta.\nLine gamma.\n");
}

fn attempts_for(api: &FakeApi, input: &str) -> usize {
    api.requests().iter().filter(|r| r.input == input).count()
}

#[test]
fn transient_faults_are_retried_until_the_audio_is_whole() {
    let mut faults = transient_faults();
    faults.push(Fault::Status {
        code: 408,
        message: "timeout".into(),
    });
    for fault in faults {
        let ws = Workspace::new();
        three_lines(&ws);
        let api = FakeApi::builder()
            .fault_when("beta", fault.clone(), 2)
            .start();
        let out = ws.run_against(&api, "lines.txt", &[]);
        assert_exit(&out, 0);
        assert_eq!(
            attempts_for(&api, "Line beta."),
            3,
            "{fault:?}: two faults, then success"
        );
        assert_eq!(attempts_for(&api, "Line alpha."), 1, "{fault:?}");
        let report = ws.report("lines-audio");
        assert_eq!(item(&report, "0002")["attempts"], 3, "{fault:?}");
        assert_eq!(report["totals"]["retries"], 2, "{fault:?}");
        assert_seconds(
            decoded_seconds(&ws.path("lines-audio/0002.mp3")).unwrap(),
            served_seconds(&api, "Line beta."),
        );
        assert!(
            ws.files().iter().all(|f| !f.ends_with(".tts-tmp")),
            "{fault:?}: temporary file left"
        );
    }
}

#[test]
fn a_request_that_hangs_times_out_and_is_retried() {
    let ws = Workspace::new();
    three_lines(&ws);
    let api = FakeApi::builder()
        .fault_when("beta", Fault::Hang, 1)
        .start();
    let out = ws.run_against(&api, "lines.txt", &["--timeout", "1"]);
    assert_exit(&out, 0);
    assert_eq!(attempts_for(&api, "Line beta."), 2);
}

#[test]
fn refused_text_fails_only_its_item_once_with_the_servers_message() {
    for code in [400u16, 404, 413, 422] {
        let ws = Workspace::new();
        three_lines(&ws);
        let message = format!("Refused with {code}: input not allowed");
        let api = FakeApi::builder()
            .fault_when(
                "beta",
                Fault::Status {
                    code,
                    message: message.clone(),
                },
                usize::MAX,
            )
            .start();
        let out = ws.run_against(&api, "lines.txt", &[]);
        assert_exit(&out, 1);
        assert_eq!(attempts_for(&api, "Line beta."), 1, "{code}: not retried");
        let report = ws.report("lines-audio");
        let failed = item(&report, "0002");
        assert_eq!(failed["status"], "failed");
        assert!(
            failed["error"].as_str().unwrap().contains(&message),
            "{code}: {failed}"
        );
        assert_eq!(report["totals"]["done"], 2);
        assert!(!ws.path("lines-audio/0002.mp3").exists());
    }
}

#[test]
fn a_refused_key_or_quota_stops_the_run_with_no_further_request() {
    let cases = [
        Fault::Status {
            code: 401,
            message: "Incorrect API key provided".into(),
        },
        Fault::Status {
            code: 403,
            message: "Country not supported".into(),
        },
        Fault::InsufficientQuota,
    ];
    for fault in cases {
        let ws = Workspace::new();
        ws.write(
            "lines.txt",
            (1..=20)
                .map(|i| format!("Line number {i}.\n"))
                .collect::<String>(),
        );
        let api = FakeApi::builder().fault_after(3, fault.clone()).start();
        let out = ws.run_against(&api, "lines.txt", &["-j", "1"]);
        assert_exit(&out, 3);
        assert_eq!(
            api.count(),
            4,
            "{fault:?}: three successes, one refusal, then nothing"
        );
        let report = ws.report("lines-audio");
        assert_eq!(report["totals"]["done"], 3);
        assert_eq!(report["totals"]["pending"], 17);
        assert!(
            report["outcome"].as_str().unwrap().contains("refused"),
            "{}",
            report["outcome"]
        );
    }
}

#[test]
fn items_that_keep_failing_give_up_after_max_attempts() {
    let ws = Workspace::new();
    three_lines(&ws);
    let api = FakeApi::builder()
        .fault_when("beta", Fault::Status500, usize::MAX)
        .start();
    let out = ws.run_against(&api, "lines.txt", &["--max-attempts", "2"]);
    assert_exit(&out, 1);
    assert_eq!(attempts_for(&api, "Line beta."), 2);
    let report = ws.report("lines-audio");
    assert!(
        item(&report, "0002")["error"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts")
    );
}

#[test]
fn max_cost_stops_before_the_spend_would_pass_it() {
    let ws = Workspace::new();
    // Ten lines of 100 characters: $0.0015 each at tts-1's $15 per million characters.
    let line = format!("{}.", "a".repeat(99));
    let text: String = (0..10).map(|i| format!("{i}{}\n", &line[1..])).collect();
    ws.write("lines.txt", text);
    let api = FakeApi::start();
    let out = ws.run_against(&api, "lines.txt", &["-j", "1", "--max-cost", "0.005"]);
    assert_exit(&out, 3);
    assert_eq!(
        api.count(),
        3,
        "three requests fit under $0.005, a fourth would not"
    );
    let report = ws.report("lines-audio");
    assert!(
        report["outcome"].as_str().unwrap().contains("--max-cost"),
        "{}",
        report["outcome"]
    );
    assert_eq!(report["totals"]["done"], 3);
    assert!((report["totals"]["estimated_cost_usd"].as_f64().unwrap() - 0.0045).abs() < 1e-9);
}
