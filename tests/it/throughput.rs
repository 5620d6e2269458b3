//! Pacing, checked with counts rather than clocks: the rate limit across workers and resumes,
//! the characters limit, a server whose limit is lower than --rpm, and concurrency.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::support::*;

fn lines(n: usize) -> String {
    (1..=n)
        .map(|i| format!("Paced line number {i} says a few words.\n"))
        .collect()
}

#[test]
fn a_lower_advertised_limit_is_followed_without_a_storm_of_429s_and_recovers() {
    let ws = Workspace::new();
    ws.write("many.txt", lines(90));
    let api = FakeApi::builder()
        .rate_limit_rpm(600)
        .rate_limit_per_second_share()
        .start();
    let child = ws
        .run_command(&api, "many.txt", &["--rpm", "3000", "-j", "8"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("thirty answers", || api.successes().len() >= 30);
    // The limit lifts: the run follows it up again (to --rpm at most).
    api.set_rate_limit_rpm(6000);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let limited = api.requests().iter().filter(|r| r.status == 429).count();
    assert!(
        limited * 50 <= api.count(),
        "{limited} of {} requests were 429s",
        api.count()
    );
    assert!(
        stderr.contains("the server allows 600 requests per minute: aiming at 588"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the server allows 6000 requests per minute: aiming at 3000"),
        "{stderr}"
    );
    assert_eq!(ws.report("many-audio")["totals"]["done"], 90);
}

#[test]
fn rpm_auto_starts_from_the_servers_advertised_limit() {
    let ws = Workspace::new();
    ws.write("many.txt", lines(30));
    let api = FakeApi::builder()
        .rate_limit_rpm(1200)
        .rate_limit_per_second_share()
        .start();
    let out = ws.run(&[
        "run",
        "many.txt",
        "--base-url",
        &api.base_url(),
        "--rpm",
        "auto",
        "-j",
        "4",
    ]);
    assert_exit(&out, 0);
    assert!(
        out.stderr
            .contains("the server allows 1200 requests per minute: aiming at 1176"),
        "{}",
        out.stderr
    );
    assert_eq!(api.requests().iter().filter(|r| r.status == 429).count(), 0);
    assert_eq!(ws.report("many-audio")["settings"]["rpm"], "auto");
}

#[test]
fn an_unadvertised_limit_is_found_from_429s() {
    let ws = Workspace::new();
    ws.write("many.txt", lines(40));
    let api = FakeApi::builder()
        .rate_limit_rpm(600)
        .rate_limit_per_second_share()
        .rate_limit_unadvertised()
        .start();
    let out = ws.run(&[
        "run",
        "many.txt",
        "--base-url",
        &api.base_url(),
        "--rpm",
        "3000",
        "-j",
        "8",
    ]);
    assert_exit(&out, 0);
    assert!(
        out.stderr.contains("rate limited: slowing to"),
        "{}",
        out.stderr
    );
    assert_eq!(ws.report("many-audio")["totals"]["done"], 40);
}

#[test]
fn never_more_than_j_requests_in_flight() {
    let ws = Workspace::new();
    ws.write("many.txt", lines(24));
    let api = FakeApi::builder()
        .latency(Duration::from_millis(40))
        .start();
    let out = ws.run_against(&api, "many.txt", &["-j", "3"]);
    assert_exit(&out, 0);
    assert!(
        api.max_in_flight() <= 3,
        "{} in flight",
        api.max_in_flight()
    );
    assert_eq!(api.max_in_flight(), 3, "-j 3 keeps 3 requests in flight");
}

#[test]
fn characters_per_minute_are_spread_evenly() {
    let ws = Workspace::new();
    ws.write("many.txt", lines(40));
    // 60,000 characters a minute: a thousand a second. Spread evenly, a second holds at most
    // that plus the piece that opens it (about 40 characters); the server refuses more than
    // that with room for arrival jitter (200 characters: 200 ms at this rate), and counts what
    // it refused. Unpaced, 8 workers at --rpm 60000 would send some 40,000 a second.
    let api = FakeApi::builder().char_limit_per_second(1000 + 200).start();
    let out = ws.run(&[
        "run",
        "many.txt",
        "--base-url",
        &api.base_url(),
        "--rpm",
        "60000",
        "--cpm",
        "60000",
        "-j",
        "8",
    ]);
    assert_exit(&out, 0);
    let longest = api
        .requests()
        .iter()
        .map(|r| r.input.chars().count())
        .max()
        .unwrap();
    assert!(longest <= 45, "{longest}");
    assert_eq!(
        api.count(),
        40,
        "no request was refused for a burst of characters"
    );
}

#[test]
fn a_resumed_run_does_not_burst() {
    let ws = Workspace::new();
    ws.write("many.txt", lines(30));
    // 300 a minute is 5 a second; the server refuses a sixth request within any second (and
    // says nothing of its limit, so the client cannot learn it): across a kill and a restart
    // the run never meets a 429.
    let api = FakeApi::builder()
        .rate_limit_rpm(360)
        .rate_limit_per_second_share()
        .rate_limit_unadvertised()
        .start();
    let base = api.base_url();
    let args = [
        "run",
        "many.txt",
        "--base-url",
        &base,
        "--rpm",
        "300",
        "-j",
        "4",
        "-q",
    ];
    let mut child = ws.command(&args).spawn().unwrap();
    wait_for("six answers", || api.successes().len() >= 6);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the kill landed before the run ended"
    );
    let mut child = ws.command(&args).spawn().unwrap();
    wait_for("twelve answers", || api.successes().len() >= 12);
    signal(&child, rustix::process::Signal::TERM);
    child.wait().unwrap();
    let refused = api.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(
        refused, 0,
        "requests refused for a burst across the restarts"
    );
}
