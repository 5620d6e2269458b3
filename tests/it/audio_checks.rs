//! Audio checks: an answer that is valid audio but far shorter than its text should take is
//! asked for once more; if it stays short it is kept, and the report and the run say so.

use crate::support::decode::decoded_seconds;
use crate::support::*;

/// Three lines the run calibrates on, then the one the server cuts short.
const LINES: [&str; 4] = [
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "Once or twice she had peeped into the book her sister was reading, but it had no pictures.",
    "So she was considering in her own mind, as well as she could, for the hot day made her feel sleepy.",
    "There was nothing so very remarkable in that; nor did Alice think it so very much out of the way to hear the Rabbit say to itself, oh dear.",
];

fn manifest(ws: &Workspace) {
    ws.write("lines.txt", LINES.join("\n") + "\n");
}

fn requests_for(api: &FakeApi, text: &str) -> usize {
    api.requests().iter().filter(|r| r.input == text).count()
}

#[test]
fn a_third_length_answer_is_asked_for_again_once() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .fault_when(LINES[3], Fault::ShortAudio, 1)
        .start();
    let out = ws.run_against(&api, "lines.txt", &["-j", "1"]);
    assert_exit(&out, 0);
    assert_eq!(requests_for(&api, LINES[3]), 2, "asked again once");
    assert_eq!(api.count(), 5);
    // The file holds the second, whole answer.
    let file = ws.path("lines-audio/0004.mp3");
    assert_seconds(
        decoded_seconds(&file).unwrap(),
        served_seconds(&api, LINES[3]),
    );
    let report = ws.report("lines-audio");
    let short = item(&report, "0004");
    assert_eq!(short["status"], "done");
    assert_eq!(short["attempts"], 2);
    assert_eq!(short["warnings"], serde_json::json!([]));
    assert_eq!(report["totals"]["warnings"], 0);
    assert_eq!(report["totals"]["retries"], 1);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn an_answer_that_stays_short_is_kept_with_a_warning() {
    let ws = Workspace::new();
    manifest(&ws);
    let api = FakeApi::builder()
        .fault_when(LINES[3], Fault::ShortAudio, usize::MAX)
        .start();
    let out = ws.run_against(&api, "lines.txt", &["-j", "1"]);
    assert_exit(&out, 0);
    assert_eq!(
        requests_for(&api, LINES[3]),
        2,
        "asked again once, not more"
    );
    let report = ws.report("lines-audio");
    let short = item(&report, "0004");
    assert_eq!(short["status"], "done", "kept");
    let warnings = short["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.contains("audio too short"), "{warning}");
    let characters = format!("{} characters", LINES[3].chars().count());
    assert!(warning.contains(&characters), "{warning}");
    assert_eq!(report["totals"]["warnings"], 1);
    for key in ["0001", "0002", "0003"] {
        assert_eq!(
            item(&report, key)["warnings"],
            serde_json::json!([]),
            "{key}"
        );
    }
    // The file is there and is what was served the second time.
    let file = ws.path("lines-audio/0004.mp3");
    assert!(decoded_seconds(&file).unwrap() > 0.0);
    // The end of the run says so.
    assert!(
        out.stderr.contains("1 item has audio warnings"),
        "{}",
        out.stderr
    );
    // A later run neither asks again nor forgets the warning.
    let again = ws.run_against(&api, "lines.txt", &["-j", "1"]);
    assert_exit(&again, 0);
    assert_eq!(requests_for(&api, LINES[3]), 2);
    assert_eq!(ws.report("lines-audio")["totals"]["warnings"], 1);
}

#[test]
fn chinese_at_its_own_pace_is_not_doubted() {
    let ws = Workspace::new();
    ws.write(
        "lines.txt",
        "话说天下大势，分久必合，合久必分。周末七国分争，并入于秦。\n\
         及秦灭之后，楚、汉分争，又并入于汉。汉朝自高祖斩白蛇而起义，一统天下。\n\
         Alice was beginning to get very tired of sitting by her sister on the bank.\n",
    );
    // About four characters a second: right for Chinese, slow (but not far off) for English.
    let api = FakeApi::builder().ms_per_char(240).start();
    let out = ws.run_against(&api, "lines.txt", &["-j", "1"]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), 3, "no answer doubted");
    assert_eq!(ws.report("lines-audio")["totals"]["warnings"], 0);
}
