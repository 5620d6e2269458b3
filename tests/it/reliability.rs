//! Survival under attack: kill -9 at any moment, crash points in the write path, mixed faults,
//! hostile retry hints, signals, storage faults. Nothing lost, nothing paid twice, nothing
//! corrupt, nothing left behind.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::support::decode::decoded_seconds;
use crate::support::*;

fn lines(n: usize) -> String {
    (1..=n)
        .map(|i| format!("Item {i} of the long manifest has its own words.\n"))
        .collect()
}

fn text_of(i: usize) -> String {
    format!("Item {i} of the long manifest has its own words.")
}

fn integrity_ok(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// Texts of the pieces the queue has audio for.
fn done_texts(db: &std::path::Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT text FROM pieces WHERE status = 'done'")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn kill_9_at_twenty_moments_loses_nothing_and_pays_nothing_twice() {
    let ws = Workspace::new();
    let n = 300;
    ws.write("many.txt", lines(n));
    let api = FakeApi::builder()
        .latency(Duration::from_millis(15))
        .start();
    let db = ws.path("many-audio/tts-batch.db");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut kills = 0;
    // (requests seen by the server at the kill, pieces done in the queue after it)
    let mut boundaries: Vec<(usize, HashSet<String>)> = Vec::new();
    while kills < 20 {
        let seen = api.count();
        let mut child = ws
            .run_command(&api, "many.txt", &["--rpm", "60000", "-j", "4", "-q"])
            .spawn()
            .unwrap();
        let target = seen + rng.usize(1..12);
        let mut finished = false;
        wait_for("requests or the end", || {
            finished = matches!(child.try_wait(), Ok(Some(_)));
            finished || api.count() >= target
        });
        if finished {
            break;
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if status.signal() != Some(9) {
            // The run ended on its own between the check and the kill: no kill happened.
            assert_eq!(status.code(), Some(0), "{status:?}");
            break;
        }
        kills += 1;
        integrity_ok(&db);
        boundaries.push((api.count(), done_texts(&db)));
    }
    assert!(kills >= 20, "the run finished before 20 kills ({kills})");
    let out = ws.run_against(&api, "many.txt", &["-j", "4"]);
    assert_exit(&out, 0);
    integrity_ok(&db);

    // No request after a kill for a piece the queue already had audio for.
    let requests = api.requests();
    for (at, done) in &boundaries {
        for r in &requests[*at..] {
            assert!(
                !done.contains(&r.input),
                "{:?} was requested again after it was done",
                r.input
            );
        }
    }
    let mut successes: HashMap<String, usize> = HashMap::new();
    for r in api.successes() {
        *successes.entry(r.input).or_default() += 1;
    }
    assert_eq!(successes.len(), n);
    let paid_twice: usize = successes.values().map(|&c| c - 1).sum();
    assert!(
        paid_twice <= kills * 4,
        "{paid_twice} repeats over {kills} kills with 4 in flight"
    );
    for i in 1..=n {
        let file = ws.path(&format!("many-audio/{i:04}.mp3"));
        assert_seconds(
            decoded_seconds(&file).unwrap(),
            served_seconds(&api, &text_of(i)),
        );
    }
    assert_eq!(ws.report("many-audio")["totals"]["done"], n as u64);
    assert!(
        ws.files().iter().all(|f| !f.ends_with(".tts-tmp")),
        "temporary files left"
    );
}

#[test]
fn a_crash_at_each_point_of_the_write_path_recovers() {
    for point in [
        "piece-after-temp-write",
        "piece-after-rename",
        "pieces-before-sync",
        "item-after-temp-write",
        "item-after-rename",
    ] {
        let ws = Workspace::new();
        ws.write("lines.txt", "First line.\nSecond line.\nThird line.\n");
        let api = FakeApi::start();
        let base = api.base_url();
        let out = ws
            .command(&["run", "lines.txt", "--base-url", &base, "-j", "1", "-q"])
            .env("TTS_BATCH_FAILPOINT", point)
            .output()
            .unwrap();
        assert_ne!(
            out.status.code(),
            Some(0),
            "{point}: the failpoint did not fire"
        );
        assert_eq!(api.count(), 1, "{point}");
        integrity_ok(&ws.path("lines-audio/tts-batch.db"));

        let out = ws.run_against(&api, "lines.txt", &["-j", "1"]);
        assert_exit(&out, 0);
        // A crash before the audio was renamed into the store costs one more request for that
        // piece; after it, none: the next run finds the audio in the store.
        let expected = if point == "piece-after-temp-write" {
            4
        } else {
            3
        };
        assert_eq!(api.count(), expected, "{point}");
        for (key, text) in [
            ("0001", "First line."),
            ("0002", "Second line."),
            ("0003", "Third line."),
        ] {
            let file = ws.path(&format!("lines-audio/{key}.mp3"));
            assert_seconds(decoded_seconds(&file).unwrap(), served_seconds(&api, text));
        }
        assert!(
            ws.files().iter().all(|f| !f.ends_with(".tts-tmp")),
            "{point}: temporary files left: {:?}",
            ws.files()
        );
    }
}

#[test]
fn a_crash_between_the_renames_and_their_sync_loses_no_recorded_piece() {
    let ws = Workspace::new();
    let n = 40;
    ws.write("many.txt", lines(n));
    let api = FakeApi::builder().latency(Duration::from_millis(5)).start();
    let db = ws.path("many-audio/tts-batch.db");
    // Pieces are renamed into the store without an fsync each and synced a batch at a time;
    // the run dies at the 4th batch, after its renames and before its sync.
    let out = ws
        .run_command(&api, "many.txt", &["--rpm", "60000", "-j", "8", "-q"])
        .env("TTS_BATCH_FAILPOINT", "pieces-before-sync@4")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "the failpoint did not fire");
    integrity_ok(&db);
    let crashed_at = api.count();

    // Every piece the queue recorded before the crash has its whole audio in the store.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let recorded: Vec<(String, String)> = conn
        .prepare("SELECT fingerprint, text FROM pieces WHERE status = 'done'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);
    assert!(
        !recorded.is_empty() && recorded.len() < n,
        "{} of {n} pieces recorded at the crash",
        recorded.len()
    );
    for (fingerprint, text) in &recorded {
        let piece = ws.path(&format!("many-audio/tts-batch.pieces/{fingerprint}.mp3"));
        assert_seconds(decoded_seconds(&piece).unwrap(), served_seconds(&api, text));
    }

    let out = ws.run_against(&api, "many.txt", &["-j", "8"]);
    assert_exit(&out, 0);
    integrity_ok(&db);
    // Nothing recorded is asked for again; what was renamed but not yet synced is found in
    // the store, synced and adopted, so at most the 8 pieces in flight are paid twice.
    let requests = api.requests();
    for r in &requests[crashed_at..] {
        assert!(
            !recorded.iter().any(|(_, text)| *text == r.input),
            "{:?} was recorded before the crash and requested again",
            r.input
        );
    }
    assert!(requests.len() <= n + 8, "{} requests", requests.len());
    for i in 1..=n {
        let file = ws.path(&format!("many-audio/{i:04}.mp3"));
        assert_seconds(
            decoded_seconds(&file).unwrap(),
            served_seconds(&api, &text_of(i)),
        );
    }
    assert_eq!(ws.report("many-audio")["totals"]["done"], n as u64);
}

#[test]
fn every_fault_mixed_into_a_third_of_first_attempts_still_ends_whole() {
    let ws = Workspace::new();
    ws.write("many.txt", lines(60));
    let mut faults = transient_faults();
    faults.push(Fault::Hang);
    let api = FakeApi::builder()
        .fault_random_first_attempts(faults, 0.35, 11)
        .start();
    let out = ws.run_against(&api, "many.txt", &["-j", "8", "--timeout", "2"]);
    assert_exit(&out, 0);
    let requests = api.requests();
    let faulted = requests.iter().filter(|r| r.fault.is_some()).count();
    assert!(faulted >= 60 * 30 / 100, "only {faulted} faults injected");
    // Each faulted first attempt costs exactly one more request.
    assert_eq!(requests.len(), 60 + faulted);
    let report = ws.report("many-audio");
    assert_eq!(report["totals"]["done"], 60);
    assert_eq!(report["totals"]["retries"].as_u64(), Some(faulted as u64));
    for i in 1..=60 {
        let file = ws.path(&format!("many-audio/{i:04}.mp3"));
        assert_seconds(
            decoded_seconds(&file).unwrap(),
            served_seconds(&api, &text_of(i)),
        );
    }
}

#[test]
fn a_429_pauses_every_worker() {
    // A 429 asking for the longest wait (5 minutes): were only its worker paused, the other
    // three would send the rest of the 200 items at once. Counted, not timed: after the 429
    // only the requests already past the pacer (at most -j - 1) may go out.
    let ws = Workspace::new();
    ws.write("many.txt", lines(200));
    let api = FakeApi::builder()
        .fault_nth(2, Fault::RateLimitSecs { secs: 300 })
        .start();
    let mut child = ws
        .run_command(&api, "many.txt", &["--rpm", "6000", "-j", "4"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = StderrLines::of(&mut child);
    stderr.wait_for("rate limited");
    wait_for("the 429", || api.count() >= 3);
    signal(&child, rustix::process::Signal::INT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{}", stderr.rest());
    let requests = api.requests();
    assert_eq!(requests[2].status, 429);
    assert!(
        requests.len() <= 3 + 3,
        "{} requests: only those already on their way may follow a 429",
        requests.len()
    );
}

#[test]
fn a_hostile_retry_after_is_capped_and_said_so() {
    let ws = Workspace::new();
    ws.write("lines.txt", "Only line.\n");
    let api = FakeApi::builder()
        .fault_when(
            "Only",
            Fault::Unavailable {
                retry_after_secs: 86400,
            },
            1,
        )
        .start();
    let base = api.base_url();
    let mut child = ws
        .command(&["run", "lines.txt", "--base-url", &base])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = StderrLines::of(&mut child);
    stderr.wait_for("waiting 300s instead");
    // The run is now waiting out the capped hint; a signal ends the wait at once.
    signal(&child, rustix::process::Signal::INT);
    let status = child.wait().unwrap();
    let stderr = stderr.rest();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("asked to wait 86400s; waiting 300s instead"),
        "{stderr}"
    );
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
}

#[test]
fn a_second_signal_exits_at_once_and_the_next_run_completes() {
    let ws = Workspace::new();
    ws.write("lines.txt", "Stuck line.\nOther line.\n");
    let api = FakeApi::builder()
        .fault_when("line", Fault::Hang, 2)
        .start();
    let mut child = ws
        .run_command(&api, "lines.txt", &["--timeout", "600", "-j", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = StderrLines::of(&mut child);
    wait_for("two hanging requests", || api.count() >= 2);
    signal(&child, rustix::process::Signal::INT);
    stderr.wait_for("stopping: no new requests");
    signal(&child, rustix::process::Signal::INT);
    let status = child.wait().unwrap();
    let stderr = stderr.rest();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stopped at once"), "{stderr}");
    assert!(ws.files().iter().all(|f| !f.ends_with(".tts-tmp")));
    assert_eq!(api.count(), 2, "no request after the signal");

    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    assert_eq!(ws.report("lines-audio")["totals"]["done"], 2);
}

#[test]
fn storage_faults_give_a_clear_error_and_no_partial_file() {
    // An --out that cannot be a folder.
    let ws = Workspace::new();
    ws.write("lines.txt", "One.\n");
    ws.write("blocker", "a file where a folder should be");
    let api = FakeApi::start();
    let out = ws.run_against(&api, "lines.txt", &["-o", "blocker/out"]);
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("blocker/out: cannot create the output folder"),
        "{}",
        out.stderr
    );
    assert_eq!(api.count(), 0);

    // A queue from a newer tts-batch.
    let ws = Workspace::new();
    ws.write("lines.txt", "One.\n");
    assert_exit(&ws.run_against(&api, "lines.txt", &[]), 0);
    let conn = rusqlite::Connection::open(ws.path("lines-audio/tts-batch.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    ws.write("lines.txt", "One.\nTwo.\n");
    api.reset_log();
    let out = ws.run_against(&api, "lines.txt", &[]);
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("newer tts-batch (schema version 99"),
        "{}",
        out.stderr
    );
    assert_eq!(api.count(), 0);

    // A file-size limit hit mid-write: the run stops resumably, nothing partial under a final name.
    let ws = Workspace::new();
    ws.write(
        "long.txt",
        format!("{}\n", "Words to make a long answer. ".repeat(100)),
    );
    let api = FakeApi::start();
    let base = api.base_url();
    let out = std::process::Command::new("prlimit")
        .arg("--fsize=400000")
        .arg(env!("CARGO_BIN_EXE_tts-batch"))
        .args(["run", "long.txt", "--base-url", &base])
        .current_dir(ws.root())
        .env("OPENAI_API_KEY", KEY)
        .output()
        .expect("prlimit (util-linux, in every Debian install; .ci/run checks it) must run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write audio") || stderr.contains("File too large"),
        "{stderr}"
    );
    assert!(!ws.path("long-audio/0001.mp3").exists());
    assert!(
        ws.files().iter().all(|f| !f.ends_with(".tts-tmp")),
        "{:?}",
        ws.files()
    );
}

#[test]
fn a_key_file_others_can_read_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::new();
    ws.write("lines.txt", "One.\n");
    let key = ws.write("key.txt", format!("{KEY}\n"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let api = FakeApi::start();
    let out = ws
        .command(&[
            "run",
            "lines.txt",
            "--base-url",
            &api.base_url(),
            "--api-key-file",
            "key.txt",
        ])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("can be read by others"), "{stderr}");
    assert!(!stderr.contains(KEY));
}
