//! Hostile answers: no hint, header or error page a server sends can crash the run or make it
//! wait more than five minutes, and error pages are quoted whole.

use crate::support::*;

/// A 429 whose hint is `name: value`, once; the retry must succeed.
fn one_bad_hint(name: &'static str, value: &str) -> FakeApi {
    let fault = Fault::RateLimitHeader {
        name,
        value: value.to_owned(),
    };
    FakeApi::builder().fault_when("Only", fault, 1).start()
}

#[test]
fn broken_retry_hints_are_ignored_and_the_run_ends_whole() {
    for name in ["retry-after", "retry-after-ms"] {
        for value in [
            "-5", "NaN", "nan", "inf", "-inf", "garbage", "1e-400x", "", "0x10",
        ] {
            let ws = Workspace::new();
            ws.write("lines.txt", "Only line.\n");
            let api = one_bad_hint(name, value);
            let out = ws.run_against(&api, "lines.txt", &[]);
            assert_exit(&out, 0);
            assert!(
                !out.stderr.contains("panicked"),
                "{name}: {value}: {}",
                out.stderr
            );
            assert_eq!(api.count(), 2, "{name}: {value}: one 429, one success");
            assert_eq!(ws.report("lines-audio")["totals"]["done"], 1);
        }
    }
}

#[test]
fn a_huge_retry_hint_is_capped_at_five_minutes_not_a_crash() {
    for (name, value) in [
        ("retry-after", "1e20"),
        ("retry-after", "99999999999999999999"),
        ("retry-after-ms", "1e300"),
    ] {
        let ws = Workspace::new();
        ws.write("lines.txt", "Only line.\n");
        let api = one_bad_hint(name, value);
        let mut child = ws
            .run_command(&api, "lines.txt", &["--rpm", "6000"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = StderrLines::of(&mut child);
        stderr.wait_for("waiting 300s instead");
        // The run waits out the capped hint; a signal ends the wait, resumably.
        signal(&child, rustix::process::Signal::INT);
        let status = child.wait().unwrap();
        let stderr = stderr.rest();
        assert_eq!(status.code(), Some(3), "{name}: {value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("cannot write audio"), "{stderr}");
        assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
        assert_eq!(ws.report("lines-audio")["totals"]["done"], 1);
    }
}

#[test]
fn a_huge_rate_reset_header_on_every_success_never_crashes() {
    for value in [
        "99999999999999999999h",
        "1e300s",
        "-1s",
        "NaNs",
        "9999999999999999999m9s",
    ] {
        let ws = Workspace::new();
        ws.write("lines.txt", "One.\nTwo.\nThree.\n");
        let api = FakeApi::builder()
            .success_header("x-ratelimit-limit-requests", "99999999999999999999999")
            .success_header("x-ratelimit-reset-requests", value)
            .start();
        let out = ws.run_against(&api, "lines.txt", &["-j", "2"]);
        assert_exit(&out, 0);
        assert!(!out.stderr.contains("panicked"), "{value}: {}", out.stderr);
        assert_eq!(api.count(), 3, "{value}");
        // And the next run with the same server is as uneventful.
        let again = ws.run_against(&api, "lines.txt", &[]);
        assert_exit(&again, 0);
    }
}

#[test]
fn an_html_error_page_is_quoted_whole_whatever_its_characters() {
    let ws = Workspace::new();
    ws.write("lines.txt", "Only line.\n");
    // U+212A KELVIN SIGN lowercases to a one-byte `k`: offsets found in the lowercased text
    // are wrong in the original.
    let title = "\u{212A}\u{212A}€ bad gateway";
    let html = format!("<html><head><TITLE>{title}</TITLE></head><body>down</body></html>");
    let api = FakeApi::builder()
        .fault_when("Only", Fault::Html { status: 502, html }, 1)
        .start();
    let out = ws.run_against(&api, "lines.txt", &["--max-attempts", "1"]);
    assert_exit(&out, 1);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let report = ws.report("lines-audio");
    let error = item(&report, "0001")["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains(&format!("HTML page \"{title}\"")),
        "the title is not quoted whole: {error}"
    );
}
