//! `plan --json` and `status --json`: one JSON document on stdout and nothing else, with the
//! fields the README lists, checked against a known manifest before and after real runs.

use serde_json::Value;

use crate::support::*;

/// Six lines: one long enough to split under `--max-chars 50`, and the same text twice.
const LINES: &str = "Line alpha.\n\
    This is the first sentence of a long line. And this is its second sentence.\n\
    Same words.\n\
    Line delta.\n\
    Same words.\n\
    Line zeta.\n";

/// Characters of each item: what its pieces send (the space where the long line splits is
/// not sent).
fn item_chars() -> Vec<u64> {
    let mut chars: Vec<u64> = LINES.lines().map(|l| l.chars().count() as u64).collect();
    chars[1] -= 1;
    chars
}

/// Runs `args`, asserts exit 0, an empty stderr and a stdout that is exactly one JSON
/// document, and returns it.
#[track_caller]
fn json_of(ws: &Workspace, args: &[&str]) -> Value {
    let out = ws.run(args);
    assert_exit(&out, 0);
    // Nothing on stderr but the warning of the shutdown of OpenAI's speech models, which `plan`
    // at api.openai.com gives.
    assert!(
        out.stderr
            .lines()
            .all(|l| l.contains("shuts down at OpenAI on 2027-01-06")),
        "nothing else on stderr: {}",
        out.stderr
    );
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.stdout))
}

fn plan_json(ws: &Workspace, extra: &[&str]) -> Value {
    let mut args = vec!["plan", "lines.txt", "--json", "--max-chars", "50"];
    args.extend_from_slice(extra);
    json_of(ws, &args)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn plan_json_counts_the_manifest_and_what_a_run_sends() {
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let plan = plan_json(&ws, &[]);

    let items = plan["items"].as_array().expect("items");
    let keys: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["0001", "0002", "0003", "0004", "0005", "0006"]);
    for (i, chars) in items.iter().zip(item_chars()) {
        assert_eq!(i["characters"], chars, "{i}");
        assert_eq!(i["output"], format!("{}.mp3", i["key"].as_str().unwrap()));
        assert_eq!(i["title"], Value::Null);
    }
    let pieces: Vec<u64> = items.iter().map(|i| n(&i["pieces"])).collect();
    assert_eq!(pieces, [1, 2, 1, 1, 1, 1], "the long line splits in two");
    let requests: Vec<u64> = items.iter().map(|i| n(&i["requests"])).collect();
    assert_eq!(
        requests,
        [1, 2, 1, 1, 0, 1],
        "the repeated text is sent once"
    );

    let t = &plan["totals"];
    assert_eq!(t["items"], 6);
    assert_eq!(t["pieces"], 7);
    assert_eq!(t["requests"], 6);
    assert_eq!(t["characters"], item_chars().iter().sum::<u64>());
    assert_eq!(t["limited_by"], "rpm");
    assert!(
        (f(&t["estimated_seconds"]) - 6.0 * 60.0 / 50.0).abs() < 1e-9,
        "{t}"
    );
    let to_send = n(&t["characters_to_send"]);
    assert!(
        (f(&t["estimated_cost_usd"]) - (to_send as f64 * 15.0 / 1e6 * 1e4).round() / 1e4).abs()
            < 1e-12,
        "{t}"
    );

    let s = &plan["settings"];
    assert_eq!(s["model"], "tts-1");
    assert_eq!(s["voice"], "alloy");
    assert_eq!(s["audio_format"], "mp3");
    assert_eq!(s["rpm"], 50);
    assert_eq!(s["concurrency"], 4);
    assert_eq!(s["max_chars"], 50);
    assert_eq!(s["input"], "lines.txt");
    assert_eq!(s["out"], "lines-audio");
    assert_eq!(s["price_per_million_chars"], 15.0);
    assert!(s.get("api_key").is_none() && !plan.to_string().contains(KEY));
    assert!(ws.files() == ["lines.txt"], "plan writes nothing");

    // The run sends exactly what the plan said.
    let api = FakeApi::start();
    assert_exit(
        &ws.run_against(&api, "lines.txt", &["--max-chars", "50", "-q"]),
        0,
    );
    assert_eq!(api.count() as u64, n(&t["requests"]));
    let sent: usize = api.requests().iter().map(|r| r.input.chars().count()).sum();
    assert_eq!(sent as u64, to_send);

    // After it, nothing is left to send.
    let again = plan_json(&ws, &[]);
    assert_eq!(again["items"].as_array().map(Vec::len), Some(6));
    let t = &again["totals"];
    assert_eq!((n(&t["requests"]), n(&t["characters_to_send"])), (0, 0));
    assert_eq!(
        (f(&t["estimated_seconds"]), f(&t["estimated_cost_usd"])),
        (0.0, 0.0)
    );
    assert_eq!(t["characters"], item_chars().iter().sum::<u64>());

    // An edited line is the one request left.
    ws.write(
        "lines.txt",
        LINES.replace("Line delta.", "Line delta, edited."),
    );
    let edited = plan_json(&ws, &[]);
    let requests: Vec<u64> = edited["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| n(&i["requests"]))
        .collect();
    assert_eq!(requests, [0, 0, 0, 1, 0, 0]);
    assert_eq!(edited["totals"]["characters_to_send"], 19);
}

#[test]
fn plan_json_estimates_time_from_rpm_cpm_and_concurrency() {
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    // One at a time at tts-1-hd: the answers hold the run, 2 s + 10 ms per character each.
    let plan = plan_json(&ws, &["-j", "1", "--rpm", "1000", "--model", "tts-1-hd"]);
    let t = &plan["totals"];
    assert_eq!(t["limited_by"], "concurrency");
    let expected = 6.0 * 2.0 + 0.010 * f(&t["characters_to_send"]);
    assert!((f(&t["estimated_seconds"]) - expected).abs() < 0.051, "{t}");
    assert_eq!(
        plan["settings"]["assumed_answer_seconds"],
        serde_json::json!({"latency": 2.0, "per_character": 0.01})
    );
    // Twice the workers, half the time.
    let two = plan_json(&ws, &["-j", "2", "--rpm", "1000", "--model", "tts-1-hd"]);
    assert!((f(&two["totals"]["estimated_seconds"]) - expected / 2.0).abs() < 0.051);

    // A character limit: characters over characters per minute.
    let plan = plan_json(&ws, &["--cpm", "60"]);
    let t = &plan["totals"];
    assert_eq!(t["limited_by"], "cpm");
    assert_eq!(f(&t["estimated_seconds"]), f(&t["characters_to_send"]));
    assert_eq!(plan["settings"]["cpm"], 60);
}

#[test]
fn plan_json_of_a_bad_manifest_is_one_error_line_and_no_json() {
    let ws = Workspace::new();
    ws.write("dupes.csv", "id,text\n7,one\n7,two\n");
    let out = ws.run(&["plan", "dupes.csv", "--json"]);
    assert_exit(&out, 2);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn status_json_follows_a_queue_through_a_failure_and_a_retry() {
    let ws = Workspace::new();
    ws.write("lines.txt", "Line alpha.\nLine beta.\nLine gamma.\n");
    let out = ws.run(&["status", "lines.txt", "--json"]);
    assert_exit(&out, 2);
    assert_eq!(out.stdout, "", "no queue yet: an error, not a document");

    let message = "Refused: input not allowed";
    let api = FakeApi::builder()
        .fault_when(
            "beta",
            Fault::Status {
                code: 400,
                message: message.into(),
            },
            1,
        )
        .start();
    assert_exit(&ws.run_against(&api, "lines.txt", &["-q"]), 1);
    let status = json_of(&ws, &["status", "lines.txt", "--json"]);
    assert_eq!(
        status["items"],
        serde_json::json!({"total": 3, "done": 2, "failed": 1, "pending": 0, "removed": 0})
    );
    assert_eq!(
        status["pieces"],
        serde_json::json!({"total": 3, "done": 2, "pending": 0, "in_flight": 0, "failed": 1})
    );
    let p = &status["progress"];
    assert_eq!(p["percent_done"], 66.6);
    assert_eq!(p["requests"], 3);
    assert_eq!(p["retries"], 0);
    assert!(f(&p["audio_seconds"]) > 0.0);
    let report = ws.report("lines-audio");
    assert_eq!(p["audio_seconds"], report["totals"]["audio_seconds"]);
    assert_eq!(
        p["estimated_cost_usd"],
        report["totals"]["estimated_cost_usd"]
    );
    let errors = status["recent_errors"].as_array().expect("recent_errors");
    assert_eq!(errors.len(), 1, "{status}");
    assert_eq!(errors[0]["key"], "0002");
    assert_eq!(errors[0]["status"], "failed");
    assert!(errors[0]["error"].as_str().unwrap().contains(message));
    let run = &status["last_run"];
    assert_eq!(run["outcome"], "finished with 1 failed items");
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    assert!(status["queue"].as_str().unwrap().ends_with("tts-batch.db"));
    // --db finds the same queue.
    let db = ws.path("lines-audio/tts-batch.db");
    let by_db = json_of(&ws, &["status", "--db", db.to_str().unwrap(), "--json"]);
    assert_eq!(by_db["items"], status["items"]);

    // The plan agrees: one request left, for the failed item.
    let plan = json_of(&ws, &["plan", "lines.txt", "--json"]);
    assert_eq!(plan["totals"]["requests"], 1);

    assert_exit(&ws.run(&["retry", "lines.txt", "-q"]), 0);
    assert_exit(&ws.run_against(&api, "lines.txt", &["-q"]), 0);
    let status = json_of(&ws, &["status", "lines.txt", "--json"]);
    assert_eq!(status["items"]["done"], 3);
    assert_eq!(status["items"]["failed"], 0);
    assert_eq!(status["pieces"]["done"], 3);
    assert_eq!(status["progress"]["percent_done"], 100.0);
    assert_eq!(status["progress"]["requests"], 4);
    assert_eq!(status["recent_errors"], serde_json::json!([]));
    assert_eq!(status["last_run"]["outcome"], "done");
}
