//! OpenAI's speech models shut down on 2027-01-06 (SPEC section 10): the warning that names
//! the date, the switch and its cost; a model the server says is gone stops the run.

use crate::support::*;

#[test]
fn plan_at_openai_warns_of_the_shutdown_with_the_command_and_the_cost() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\nAnother line.\n");
    let out = ws.run(&["plan", "lines.txt"]);
    assert_exit(&out, 0);
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("2027-01-06"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    let warning = warnings[0];
    assert!(
        warning.contains("`tts-1` shuts down at OpenAI on 2027-01-06"),
        "{warning}"
    );
    assert!(
        warning.contains("tts-batch run lines.txt --provider realtime"),
        "{warning}"
    );
    assert!(warning.contains("22 characters, about $0.00"), "{warning}");
    // A relay keeps the model: no warning.
    let out = ws.run(&[
        "plan",
        "lines.txt",
        "--base-url",
        "https://relay.example/v1",
    ]);
    assert_exit(&out, 0);
    assert!(!out.stderr.contains("2027-01-06"), "{}", out.stderr);
}

#[test]
fn a_model_the_server_says_is_gone_stops_the_run_with_the_advice() {
    let ws = Workspace::new();
    let text: String = (1..=10).map(|i| format!("Line {i}.\n")).collect();
    ws.write("lines.txt", text);
    let api = FakeApi::builder()
        .fault_after(
            0,
            Fault::Status {
                code: 404,
                message: "The model `tts-1` does not exist or you do not have access to it.".into(),
            },
        )
        .start();
    let out = ws.run_against(&api, "lines.txt", &["-j", "1"]);
    assert_exit(&out, 3);
    assert!(out.stderr.contains("--provider realtime"), "{}", out.stderr);
    assert_eq!(api.count(), 1);
    let report = ws.report("lines-audio");
    assert_eq!(report["totals"]["pending"], 10);
    assert_eq!(report["totals"]["failed"], 0);
}
