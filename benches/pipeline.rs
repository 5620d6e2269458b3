//! The throughput benchmark: the real `tts-batch` binary against a local stand-in of the speech
//! API (configurable latency, rate limit and faults), each figure printed as a ratio to its
//! ideal, beside what a user would otherwise do: a sequential loop of `curl`, and `xargs -P`
//! running `curl`, against the same server.
//!
//!     cargo bench --bench pipeline            # everything (about ten minutes)
//!     cargo bench --bench pipeline -- quick   # shorter runs, same figures
//!     cargo bench --bench pipeline -- espeak  # one scenario (needs espeak-ng)
//!     cargo bench --bench pipeline -- piper   # one scenario (needs piper and a voice)
//!     cargo bench --bench pipeline -- book    # the book files (m4b needs ffmpeg)
//!     cargo bench --bench pipeline -- overhead  # ours beside a plain loop and xargs curl
//!     cargo bench --bench pipeline -- realtime  # --provider realtime beside the speech API
//!     cargo bench --bench pipeline -- transcripts  # the realtime stand-in's word error rate

#[path = "../tests/it/support/epub.rs"]
#[allow(dead_code)] // the test suite's EPUB builder; the benchmark uses one generator of it
mod epub;
#[path = "../tests/it/support/hearing.rs"]
mod hearing;
#[path = "../tests/it/support/packing.rs"]
#[allow(dead_code)] // fields the test prints in its messages
mod packing;
#[path = "../tests/it/support/piper.rs"]
mod piper;
#[path = "../tests/it/support/realtime.rs"]
mod realtime;
#[path = "../tests/it/support/server.rs"]
mod server;
#[path = "../tests/it/support/synth.rs"]
mod synth;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use server::FakeApi;

const BIN: &str = env!("CARGO_BIN_EXE_tts-batch");
const KEY: &str = server::DEFAULT_KEY;

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a != "quick")
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    println!(
        "tts-batch pipeline benchmark ({})",
        if quick { "quick" } else { "full" }
    );
    println!("machine: {}", machine());
    if want("overhead") {
        overhead(quick);
    }
    if want("cost") {
        own_cost(quick);
    }
    if want("rate") {
        rate_fidelity(quick);
    }
    if want("adaptive") {
        adaptive(quick);
    }
    if want("latency") {
        latency_hiding(quick);
    }
    if want("chapter") {
        hour_long_chapter();
    }
    if want("big") {
        big_manifests(quick);
    }
    if want("epub") {
        epub_book();
    }
    if want("espeak") {
        espeak_book(quick);
    }
    if want("piper") {
        piper_book(quick);
    }
    if want("book") {
        book_files(quick);
    }
    if want("packing") {
        piece_packing();
    }
    if want("realtime") {
        realtime_pieces(quick);
    }
    if want("transcripts") {
        realtime_transcripts();
    }
    remove_workspaces();
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// How full pieces are (characters over pieces × `--max-chars`, and pieces against the fewest
/// possible) and how many pieces a random one-paragraph edit changes (mean and most, over 300
/// edits), on the corpus books' chapters longer than `--max-chars`.
fn piece_packing() {
    let texts: Vec<String> = packing::corpus_chapters()
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    println!("\n## piece packing (corpus books, 300 random one-paragraph edits)");
    for max_chars in [4096, 2000, 1000] {
        let p = packing::measure(&texts, max_chars, 300, max_chars as u64);
        println!(
            "--max-chars {max_chars}: {} pieces (fewest {}), {:.1}% full; an edit changes {:.2} pieces on average, at most {} (with no queue to keep pieces from: {:.2}, at most {})",
            p.pieces,
            p.fewest,
            p.fill * 100.0,
            p.changed_mean,
            p.changed_max,
            p.fresh_changed_mean,
            p.fresh_changed_max
        );
    }
}

/// `--rpm R` with plenty of workers on a zero-latency server: achieved rate over R, and the
/// busiest 1-second and 60-second windows against their caps.
fn rate_fidelity(quick: bool) {
    let (rpm, items) = if quick { (1200, 300) } else { (600, 700) };
    let ws = Workspace::new("rate");
    ws.lines(items);
    let api = FakeApi::builder().ms_per_char(1).start();
    let run = ws.run(&api, &["--rpm", &rpm.to_string(), "-j", "32"]);
    let times: Vec<u64> = api.requests().iter().map(|r| r.at_ms).collect();
    let span = (times[times.len() - 1] - times[0]) as f64 / 60_000.0;
    let achieved = (times.len() - 1) as f64 / span;
    let sec = busiest(&times, 1000);
    let min = busiest(&times, 60_000);
    println!("\n## rate fidelity: --rpm {rpm}, -j 32, {items} items, zero latency");
    println!(
        "achieved rate           {achieved:8.1} rpm   ratio achieved/limit {:.3}",
        achieved / rpm as f64
    );
    println!(
        "busiest 1 s window      {sec:8} req   cap {} (share + 1)",
        rpm / 60 + 1
    );
    println!(
        "busiest 60 s window     {min:8} req   cap {rpm}{}",
        if span < 1.0 {
            " (run shorter than a minute)"
        } else {
            ""
        }
    );
    println!("exit {}, wall {:.1} s", run.code, run.wall.as_secs_f64());
}

/// A server whose real limit (advertised in headers, enforced per second too) is below --rpm.
fn adaptive(quick: bool) {
    let (limit, items) = if quick { (600, 200) } else { (600, 500) };
    let ws = Workspace::new("adaptive");
    ws.lines(items);
    let api = FakeApi::builder()
        .ms_per_char(1)
        .rate_limit_rpm(limit)
        .rate_limit_per_second_share()
        .start();
    let run = ws.run(&api, &["--rpm", "3000", "-j", "16"]);
    let ok: Vec<u64> = api.successes().iter().map(|r| r.at_ms).collect();
    let limited = api.requests().iter().filter(|r| r.status == 429).count();
    let span = (ok[ok.len() - 1] - ok[0]) as f64 / 60_000.0;
    let achieved = (ok.len() - 1) as f64 / span;
    println!(
        "\n## adaptive pacing: server limit {limit} rpm (advertised), --rpm 3000, -j 16, {items} items"
    );
    println!(
        "achieved rate           {achieved:8.1} rpm   ratio achieved/server limit {:.3}",
        achieved / limit as f64
    );
    println!(
        "429 answers             {limited:8}       ratio 429s/requests {:.4}",
        limited as f64 / api.count() as f64
    );
    println!("exit {}, wall {:.1} s", run.code, run.wall.as_secs_f64());
}

/// Server latency L and -j N, no binding rate limit: throughput against N/L, then the same
/// items through a sequential curl loop and `xargs -P N curl`.
fn latency_hiding(quick: bool) {
    let (latency, workers, items) = (
        Duration::from_millis(200),
        16usize,
        if quick { 200 } else { 600 },
    );
    let ideal = workers as f64 / latency.as_secs_f64();
    println!(
        "\n## latency hiding: latency {} ms, -j {workers}, {items} items; ideal N/L = {ideal:.1} req/s",
        latency.as_millis()
    );
    let ws = Workspace::new("latency");
    ws.lines(items);
    let api = FakeApi::builder().latency(latency).ms_per_char(1).start();
    let run = ws.run(&api, &["--rpm", "1000000", "-j", &workers.to_string()]);
    let rate = items as f64 / run.wall.as_secs_f64();
    println!(
        "tts-batch               {rate:8.1} req/s ratio achieved/ideal {:.3}   max in flight {} (limit {workers})   CPU {:.2} ms/req",
        rate / ideal,
        api.max_in_flight(),
        run.cpu_ms / items as f64
    );
    let seq_items = items.min(50);
    let curl = curl_bench(&ws, &api, seq_items, 1);
    let seq_rate = seq_items as f64 / curl.wall.as_secs_f64();
    println!(
        "sequential curl loop    {seq_rate:8.1} req/s ratio achieved/ideal {:.3}   ({seq_items} items)   CPU {:.2} ms/req",
        seq_rate / ideal,
        curl.cpu_ms / seq_items as f64
    );
    let xargs = curl_bench(&ws, &api, items, workers);
    let x_rate = items as f64 / xargs.wall.as_secs_f64();
    println!(
        "xargs -P {workers} curl        {x_rate:8.1} req/s ratio achieved/ideal {:.3}   CPU {:.2} ms/req (no queue, retries, rate limit or checks)",
        x_rate / ideal,
        xargs.cpu_ms / items as f64
    );
}

/// Our binary beside what a user would otherwise run, on the same stand-in server in one run:
/// CPU per request (user + system of the process and its children) at zero latency, the
/// median of `REPEATS` runs each; and in-flight efficiency at 400 ms, achieved throughput over
/// slots / latency, with our start-up (spawn to first request) and wind-down (last answer to
/// exit). The plain loop is Python's `requests.post` in a `for` (stdlib `urllib` if `requests`
/// is missing), writing each body to a file, nothing durable.
fn overhead(quick: bool) {
    const REPEATS: usize = 3;
    let latency = Duration::from_millis(400);
    let items = if quick { 500 } else { 1000 };
    let ws = Workspace::new("overhead");
    let zero = FakeApi::builder().start();
    let python = python_loop(&ws);
    println!(
        "\n## overhead: one stand-in server, {items} items at zero latency (CPU: median of {REPEATS}); in flight at {} ms",
        latency.as_millis()
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ours = median(
        (0..REPEATS)
            .map(|r| {
                let name = format!("ours-{r}.txt");
                ws.lines_named(&name, items);
                let run = ws.run_input(&zero, &name, &["--rpm", "1000000", "-j", "16"]);
                assert_eq!(run.code, 0, "tts-batch failed");
                run.cpu_ms / items as f64
            })
            .collect(),
    );
    println!(
        "tts-batch -j 16           CPU {ours:7.3} ms/request (queue, checks, files synced in groups)"
    );
    let plain = python.as_ref().map(|(interpreter, library)| {
        let cpu = median(
            (0..REPEATS)
                .map(|_| plain_loop(&ws, &zero, interpreter, items).cpu_ms / items as f64)
                .collect(),
        );
        println!(
            "plain loop ({library:8})    CPU {cpu:7.3} ms/request (one request at a time, nothing durable)"
        );
        cpu
    });
    let curl = median(
        (0..REPEATS)
            .map(|_| curl_bench(&ws, &zero, items, 16).cpu_ms / items as f64)
            .collect(),
    );
    println!("xargs -P 16 curl          CPU {curl:7.3} ms/request (a process per request)");
    match plain {
        Some(plain) => println!(
            "ratio tts-batch / plain loop {:.3} (target at most 0.5); tts-batch / xargs curl {:.3}",
            ours / plain,
            ours / curl
        ),
        None => println!("no python3: no plain loop to compare with"),
    }

    let slow = FakeApi::builder().latency(latency).start();
    let started = Instant::now();
    // Whole rounds of `-j` answers (a last round half full would halve that round's use of
    // the slots whatever the tool does); the -j 64 run is the 1,000-item manifest (1,024).
    for (workers, count) in [
        (16usize, if quick { 208 } else { 400 }),
        (64, if quick { 512 } else { 1024 }),
    ] {
        let name = format!("inflight-{workers}.txt");
        ws.lines_named(&name, count);
        slow.reset_log();
        let spawned = Instant::now();
        let run = ws.run_input(
            &slow,
            &name,
            &["--rpm", "1000000", "-j", &workers.to_string()],
        );
        assert_eq!(run.code, 0, "tts-batch failed");
        let ideal = workers as f64 / latency.as_secs_f64();
        let rate = count as f64 / run.wall.as_secs_f64();
        let times: Vec<u64> = slow.requests().iter().map(|r| r.at_ms).collect();
        let since = |ms: u64| Duration::from_millis(ms).saturating_sub(spawned - started);
        let first = times.iter().min().map_or(Duration::ZERO, |&t| since(t));
        let last_answer = times.iter().max().map_or(Duration::ZERO, |&t| since(t)) + latency;
        println!(
            "tts-batch -j {workers:<3} {count:5} items  in-flight efficiency {:.3}   start-up to first request {} ms, last answer to exit {} ms",
            rate / ideal,
            first.as_millis(),
            run.wall.saturating_sub(last_answer).as_millis()
        );
    }
    if let Some((interpreter, library)) = &python {
        let count = if quick { 10 } else { 25 };
        let run = plain_loop(&ws, &slow, interpreter, count);
        let rate = count as f64 / run.wall.as_secs_f64();
        println!(
            "plain loop ({library}) {count:5} items  in-flight efficiency {:.3} (one slot)",
            rate * latency.as_secs_f64()
        );
    }
    let count = if quick { 200 } else { 400 };
    let run = curl_bench(&ws, &slow, count, 16);
    let rate = count as f64 / run.wall.as_secs_f64();
    println!(
        "xargs -P 16 curl {count:5} items  in-flight efficiency {:.3}",
        rate / (16.0 / latency.as_secs_f64())
    );
}

/// Writes the plain loop and says which interpreter runs it and which HTTP library it found.
fn python_loop(ws: &Workspace) -> Option<(String, String)> {
    let interpreter = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let library = Command::new(&interpreter)
        .args(["-c", "import requests"])
        .status()
        .ok()?;
    let library = if library.success() {
        "requests"
    } else {
        "urllib"
    };
    ws.write(
        "plain_loop.py",
        format!(
            r#"# The loop a user writes instead of a tool: one request after another, each body
# written to a file; no retries, no checks, nothing synced.
import json, os, sys
url, key, lines, out = sys.argv[1:5]
os.makedirs(out, exist_ok=True)
headers = {{"Authorization": "Bearer " + key, "Content-Type": "application/json"}}
if "{library}" == "requests":
    import requests
    def speak(body):
        r = requests.post(url, data=body, headers=headers)
        r.raise_for_status()
        return r.content
else:
    import urllib.request
    def speak(body):
        req = urllib.request.Request(url, data=body, headers=headers)
        with urllib.request.urlopen(req) as r:
            return r.read()
for i, line in enumerate(open(lines, encoding="utf-8"), 1):
    body = json.dumps({{"model": "tts-1", "voice": "alloy", "input": line.strip()}}).encode()
    with open(os.path.join(out, "%04d.mp3" % i), "wb") as f:
        f.write(speak(body))
"#
        ),
    );
    Some((interpreter, library.to_string()))
}

/// Runs the plain loop over `items` lines against `api`.
fn plain_loop(ws: &Workspace, api: &FakeApi, interpreter: &str, items: usize) -> Run {
    let name = format!("plain-{items}.txt");
    ws.lines_named(&name, items);
    let out = ws.path(&format!("plain-{items}"));
    let _ = std::fs::remove_dir_all(&out);
    let url = format!("{}/audio/speech", api.base_url());
    let run = measure(
        Command::new(interpreter)
            .arg(ws.path("plain_loop.py"))
            .args([url.as_str(), KEY])
            .arg(ws.path(&name))
            .arg(&out)
            .current_dir(ws.path("")),
    );
    assert_eq!(run.code, 0, "the plain loop failed");
    run
}

/// The tool's own cost: CPU per request and peak memory on a zero-latency server.
fn own_cost(quick: bool) {
    let items = if quick { 2000 } else { 5000 };
    let ws = Workspace::new("cost");
    ws.lines(items);
    let api = FakeApi::builder().ms_per_char(1).start();
    let run = ws.run(&api, &["--rpm", "1000000", "-j", "16"]);
    println!("\n## own cost: {items} items, zero-latency server, -j 16");
    println!(
        "CPU per request         {:8.3} ms   ratio to the 1 ms budget {:.3}",
        run.cpu_ms / items as f64,
        run.cpu_ms / items as f64
    );
    println!(
        "throughput              {:8.1} req/s   wall {:.1} s",
        items as f64 / run.wall.as_secs_f64(),
        run.wall.as_secs_f64()
    );
    println!(
        "peak RSS                {:8.1} MiB   ratio to 64 MiB {:.3}",
        run.peak_mib,
        run.peak_mib / 64.0
    );
    let curl = curl_bench(&ws, &api, 500, 16);
    println!(
        "xargs -P 16 curl        CPU {:.3} ms per request (a process per request)",
        curl.cpu_ms / 500.0
    );
}

/// `--provider realtime` against the stand-in Realtime server, beside the speech endpoint
/// against its stand-in: pieces per second against `-j` with a 200 ms answer time, and the
/// client's own CPU per piece with none (each piece's PCM decoded from base64 and encoded to
/// mp3 in-process, where the speech endpoint's answer is already mp3).
fn realtime_pieces(quick: bool) {
    let items = if quick { 100 } else { 300 };
    let latency = Duration::from_millis(200);
    println!(
        "\n## realtime: {items} pieces, answer time {} ms; pieces/s against -j (ideal -j / latency)",
        latency.as_millis()
    );
    for workers in [1usize, 2, 4, 8, 16] {
        let n = if workers == 1 { items.min(40) } else { items };
        let ideal = workers as f64 / latency.as_secs_f64();
        let ws = Workspace::new("realtime");
        ws.lines(n);
        let rt = realtime::RealtimeApi::builder()
            .latency(latency)
            .ms_per_char(1)
            .start();
        let run = ws.run_realtime(&rt, &["--rpm", "1000000", "-j", &workers.to_string()]);
        let rt_rate = n as f64 / run.wall.as_secs_f64();
        let ws = Workspace::new("realtime-speech");
        ws.lines(n);
        let api = FakeApi::builder().latency(latency).ms_per_char(1).start();
        let speech = ws.run(&api, &["--rpm", "1000000", "-j", &workers.to_string()]);
        let sp_rate = n as f64 / speech.wall.as_secs_f64();
        println!(
            "-j {workers:2}  realtime {rt_rate:7.1} pieces/s ratio {:.3} (exit {}, {} sessions)   speech endpoint {sp_rate:7.1} req/s ratio {:.3}",
            rt_rate / ideal,
            run.code,
            rt.connections(),
            sp_rate / ideal
        );
    }
    let n = if quick { 300 } else { 1000 };
    let ws = Workspace::new("realtime-cost");
    ws.lines(n);
    let rt = realtime::RealtimeApi::builder().ms_per_char(50).start();
    let run = ws.run_realtime(&rt, &["--rpm", "1000000", "-j", "4"]);
    let ws = Workspace::new("realtime-cost-speech");
    ws.lines(n);
    let api = FakeApi::builder().ms_per_char(50).start();
    let speech = ws.run(&api, &["--rpm", "1000000", "-j", "4"]);
    println!(
        "own CPU, {n} pieces of ~2.1 s of speech, no latency, -j 4: realtime {:.2} ms per piece ({:.1} pieces/s, exit {}), speech endpoint {:.2} ms per request ({:.1} req/s)",
        run.cpu_ms / n as f64,
        n as f64 / run.wall.as_secs_f64(),
        run.code,
        speech.cpu_ms / n as f64,
        n as f64 / speech.wall.as_secs_f64(),
    );
}

/// The word error rate of the realtime stand-in's own transcripts (the verbatim check) on the
/// corpus books, as the report gives it: every piece scored against its text after the
/// normalisation `--verify` shares (numbers, quotes, dashes, compounds, spellings).
fn realtime_transcripts() {
    println!(
        "\n## realtime stand-in: its transcripts of the corpus books against their text (report totals)"
    );
    for book in ["alice-ch1-lines.txt", "alice.md", "jekyll-hyde.epub"] {
        let ws = Workspace::new("transcripts");
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(book);
        std::fs::copy(&corpus, ws.path(book)).expect("copy the corpus book");
        let rt = realtime::RealtimeApi::builder().ms_per_char(1).start();
        let mut cmd = Command::new(BIN);
        cmd.args(["run", book, "--provider", "realtime", "--base-url"])
            .arg(rt.base_url())
            .args([
                "--rpm",
                "1000000",
                "-j",
                "4",
                "-o",
                "out",
                "--audio-format",
                "wav",
            ])
            .current_dir(ws.root())
            .env("OPENAI_API_KEY", KEY)
            .env_remove("OPENAI_BASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let run = measure(&mut cmd);
        let report: serde_json::Value = std::fs::read(ws.path("out/report.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let t = &report["totals"];
        println!(
            "{book}: exit {}, {} pieces heard, word error rate {} ({} items over --max-wer), {:.1} s",
            run.code,
            t["verified_pieces"],
            t["wer"],
            report["items"].as_array().map_or(0, |items| items
                .iter()
                .filter(|i| i["wer"].as_f64().is_some_and(|w| w > 0.18))
                .count()),
            run.wall.as_secs_f64()
        );
    }
}

/// One chapter an hour long: the audio streams to disk, memory stays flat.
fn hour_long_chapter() {
    let ws = Workspace::new("chapter");
    let sentence = "It was a long chapter, and the reader went on and on through the night. ";
    let text = sentence.repeat(60_000 / sentence.len());
    ws.write(
        "book.md",
        format!("# Book\n\n## One\n\n{text}\n\n## Two\n\nShort.\n"),
    );
    // 60 ms of audio a character: an hour for 60,000 characters.
    let api = FakeApi::builder().ms_per_char(60).start();
    let run = ws.run_input(&api, "book.md", &["--rpm", "1000000", "-j", "4"]);
    let seconds = std::fs::read_to_string(ws.path("book-audio/report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r["totals"]["audio_seconds"].as_f64())
        .unwrap_or(0.0);
    println!(
        "\n## an hour-long chapter: {} characters, {:.0} s of audio",
        text.len(),
        seconds
    );
    println!(
        "peak RSS                {:8.1} MiB   ratio to 64 MiB {:.3}   exit {}",
        run.peak_mib,
        run.peak_mib / 64.0,
        run.code
    );
}

/// `--provider espeak` on a 20-chapter book (Alice in Wonderland from the shared corpus, cut
/// into 20 chapters of even length; 8 with `quick`): `-j` = cores against `-j 1`, each on a
/// fresh queue. The offline voice is CPU work, so the ideal is cores × one process's speed.
fn espeak_book(quick: bool) {
    let chapters = if quick { 8 } else { 20 };
    let (book, total) = alice_book(chapters, usize::MAX);
    let ws = Workspace::new("espeak");
    ws.write("book.md", book);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = |jobs: usize, out: &str| {
        measure(
            Command::new(BIN)
                .args(["run", "book.md", "--provider", "espeak", "-q", "-o", out])
                .args(["-j", &jobs.to_string()])
                .current_dir(ws.root())
                .env_remove("OPENAI_API_KEY")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    };
    let single = run(1, "single");
    let parallel = run(cores, "parallel");
    let seconds = std::fs::read_to_string(ws.path("parallel/report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r["totals"]["audio_seconds"].as_f64())
        .unwrap_or(0.0);
    let speedup = single.wall.as_secs_f64() / parallel.wall.as_secs_f64();
    println!(
        "\n## espeak: {chapters} chapters, {total} characters, {:.0} s of mp3 audio",
        seconds
    );
    for (name, run) in [("-j 1", &single), ("-j cores", &parallel)] {
        // CPU over wall: how many cores the run kept busy (other load on the machine shows
        // here as a run that could not get its cores).
        println!(
            "{name:<10} {:8.1} s wall {:8.1} s CPU ({:.2} cores busy)  {:6.0} chars/s  exit {}",
            run.wall.as_secs_f64(),
            run.cpu_ms / 1000.0,
            run.cpu_ms / 1000.0 / run.wall.as_secs_f64(),
            total as f64 / run.wall.as_secs_f64(),
            run.code
        );
    }
    println!(
        "speed-up {speedup:.2} on {cores} cores; ratio to cores x single {:.3} (target >= 0.8); CPU per character -j cores / -j 1: {:.3}",
        speedup / cores as f64,
        parallel.cpu_ms / single.cpu_ms.max(1.0)
    );
}

/// Alice in Wonderland from the shared corpus as a Markdown book of `chapters` chapters of even
/// length, its paragraphs cut off after `limit` characters: the book and its characters.
fn alice_book(chapters: usize, limit: usize) -> (String, usize) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/alice.md");
    let text = std::fs::read_to_string(&corpus).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the corpus beside the repository)",
            corpus.display()
        )
    });
    let mut paragraphs: Vec<&str> = Vec::new();
    let mut total = 0;
    for paragraph in text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('#') && !p.starts_with('*'))
    {
        if total + paragraph.len() > limit {
            break;
        }
        total += paragraph.len();
        paragraphs.push(paragraph);
    }
    let per_chapter = total.div_ceil(chapters);
    let mut book = String::from("# Alice, in parts\n");
    let (mut chapter, mut filled) = (0, usize::MAX);
    for paragraph in &paragraphs {
        if filled >= per_chapter && chapter < chapters {
            chapter += 1;
            filled = 0;
            book.push_str(&format!("\n## Part {chapter}\n"));
        }
        book.push_str(&format!("\n{paragraph}\n"));
        filled += paragraph.len();
    }
    (book, total)
}

/// `--provider piper` (the `en_US-joe-medium` voice) on the first 12,000 characters of Alice
/// (5,000 with `quick`) in 4 chapters: first `piper` by itself, one warm process given one
/// paragraph a line (the ideal of one worker: nothing but speech), and the same with a fresh
/// process per paragraph (what a process per piece would cost: the voice loaded each time);
/// then `tts-batch` with `-j 1` and `-j` = cores, each on a fresh queue, writing mp3.
fn piper_book(quick: bool) {
    let setup = piper::setup();
    let limit = if quick { 5_000 } else { 12_000 };
    let (book, total) = alice_book(4, limit);
    let ws = Workspace::new("piper");
    ws.write("book.md", book.clone());
    let paragraphs: Vec<String> = book
        .split('\n')
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let program = setup.bin_dir.join("piper");
    let speak = |lines: &[String], out: &str| {
        let mut child = Command::new(&program)
            .arg("--model")
            .arg(setup.model())
            .arg("--output-dir")
            .arg(ws.path(out))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("piper starts");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut stdin = child.stdin.take().expect("stdin");
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(text.as_bytes());
        });
        let code = wait(child);
        let _ = feeder.join();
        code
    };
    // One warm process, every paragraph.
    let started = Instant::now();
    let cpu = children_cpu_ms();
    let code = speak(&paragraphs, "warm");
    let warm = (started.elapsed(), children_cpu_ms() - cpu, code);
    // A fresh process per paragraph, for the first eight.
    let few = &paragraphs[..paragraphs.len().min(8)];
    let few_chars: usize = few.iter().map(|p| p.len()).sum();
    let started = Instant::now();
    for (n, paragraph) in few.iter().enumerate() {
        speak(std::slice::from_ref(paragraph), &format!("cold-{n}"));
    }
    let cold = started.elapsed();
    let started = Instant::now();
    speak(few, "warm-few");
    let warm_few = started.elapsed();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = |jobs: usize, out: &str| {
        measure(
            Command::new(BIN)
                .args(["run", "book.md", "--provider", "piper", "-q", "-o", out])
                .args(["--voice", piper::VOICE, "-j", &jobs.to_string()])
                .current_dir(ws.root())
                .env("PATH", setup.path_var())
                .env("PIPER_VOICES", &setup.voices)
                .env_remove("OPENAI_API_KEY")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    };
    let single = run(1, "single");
    let parallel = run(cores, "parallel");
    let seconds = std::fs::read_to_string(ws.path("parallel/report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r["totals"]["audio_seconds"].as_f64())
        .unwrap_or(0.0);
    println!(
        "\n## piper ({}): 4 chapters, {total} characters, {seconds:.0} s of mp3 audio",
        piper::VOICE
    );
    println!(
        "piper alone, one warm process, {} paragraphs: {:8.1} s wall {:8.1} s CPU  {:6.0} chars/s  exit {}",
        paragraphs.len(),
        warm.0.as_secs_f64(),
        warm.1 / 1000.0,
        total as f64 / warm.0.as_secs_f64(),
        warm.2
    );
    println!(
        "piper alone, {} paragraphs ({few_chars} characters): a process each {:.1} s, one warm process {:.1} s; {:.2} s more per piece to load the voice",
        few.len(),
        cold.as_secs_f64(),
        warm_few.as_secs_f64(),
        (cold.as_secs_f64() - warm_few.as_secs_f64()) / few.len() as f64
    );
    for (name, run) in [("-j 1", &single), ("-j cores", &parallel)] {
        println!(
            "{name:<10} {:8.1} s wall {:8.1} s CPU ({:.2} cores busy)  {:6.0} chars/s  exit {}",
            run.wall.as_secs_f64(),
            run.cpu_ms / 1000.0,
            run.cpu_ms / 1000.0 / run.wall.as_secs_f64(),
            total as f64 / run.wall.as_secs_f64(),
            run.code
        );
    }
    println!(
        "-j 1 against one warm piper: {:.3} (target >= 0.9); speed-up {:.2} on {cores} cores, ratio to cores x single {:.3}",
        warm.0.as_secs_f64() / single.wall.as_secs_f64(),
        single.wall.as_secs_f64() / parallel.wall.as_secs_f64(),
        single.wall.as_secs_f64() / parallel.wall.as_secs_f64() / cores as f64
    );
}

/// The whole-book file of a 24-chapter, 10-hour book (2 hours with `quick`), as `--book mp3`
/// and `--book m4b`: a full build (every chapter's audio already stored, no book yet), then a
/// rebuild after one chapter's edit (one request, that chapter's file and the book). The
/// rebuild should take at most a fifth of the full build; the process's peak RSS (ffmpeg, a
/// separate program, not counted) should stay within 64 MiB.
fn book_files(quick: bool) {
    let chapters = 24;
    let hours = if quick { 2.0 } else { 10.0 };
    // 60 ms of audio a character: 600,000 characters make 10 hours.
    let ms_per_char = 60;
    let chars_per_chapter = (hours * 3_600_000.0 / ms_per_char as f64 / chapters as f64) as usize;
    let paragraph = "The reader went on through the night, and the chapter went on with him, \
                     page after page of a long and patient story. ";
    let mut book = String::from("# A long book\n");
    for chapter in 1..=chapters {
        book.push_str(&format!("\n## Chapter {chapter}\n"));
        let mut filled = 0;
        let mut n = 0;
        while filled < chars_per_chapter {
            n += 1;
            let text = format!(
                "\nParagraph {n} of chapter {chapter}. {}\n",
                paragraph.repeat(4)
            );
            filled += text.len();
            book.push_str(&text);
        }
    }
    let ws = Workspace::new("book");
    ws.write("book.md", book.clone());
    let api = FakeApi::builder().ms_per_char(ms_per_char).start();
    let speech = ws.run_input(&api, "book.md", &["--rpm", "1000000", "-j", "4", "-q"]);
    let seconds = std::fs::read_to_string(ws.path("book-audio/report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r["totals"]["audio_seconds"].as_f64())
        .unwrap_or(0.0);
    println!(
        "\n## book files: {chapters} chapters, {} characters, {:.1} hours of mp3 (speech run: exit {}, {:.1} s)",
        book.len(),
        seconds / 3600.0,
        speech.code,
        speech.wall.as_secs_f64()
    );
    let mut edits = 0;
    for format in ["mp3", "m4b"] {
        // The same --rpm as the speech run: at the default 50, the pacer would first wait out
        // the speech run's requests of the last minute.
        let flags = ["--book", format, "--rpm", "1000000", "-q"];
        let full = ws.run_input(&api, "book.md", &flags);
        edits += 1;
        let edited = book.replacen(
            "Paragraph 2 of chapter 12.",
            &format!("Paragraph 2 of chapter 12, edited {edits} times."),
            1,
        );
        ws.write("book.md", edited);
        let sent = api.count();
        let rebuild = ws.run_input(&api, "book.md", &flags);
        let requests = api.count() - sent;
        println!(
            "--book {format}  full build {:7.2} s (peak RSS {:5.1} MiB, ratio to 64 MiB {:.3}, exit {})",
            full.wall.as_secs_f64(),
            full.peak_mib,
            full.peak_mib / 64.0,
            full.code
        );
        println!(
            "--book {format}  rebuild after a one-chapter edit {:7.2} s ({requests} requests, peak RSS {:5.1} MiB, exit {}); ratio to full {:.3} (target <= 0.2)",
            rebuild.wall.as_secs_f64(),
            rebuild.peak_mib,
            rebuild.code,
            rebuild.wall.as_secs_f64() / full.wall.as_secs_f64().max(1e-9)
        );
    }
}

/// Big manifests: plan over a million lines; the first request of a run over them; a resumed
/// run over a finished 100,000-item queue.
fn big_manifests(quick: bool) {
    let (lines, finished) = if quick {
        (200_000, 20_000)
    } else {
        (1_000_000, 100_000)
    };
    let ws = Workspace::new("big");
    ws.lines_named("million.txt", lines);
    println!("\n## big manifests");
    let plan = measure(
        Command::new(BIN)
            .args(["plan", "million.txt"])
            .current_dir(ws.root())
            .stdout(Stdio::null()),
    );
    println!(
        "plan {lines} lines        {:8.2} s  ratio to 10 s {:.3}   peak RSS {:.1} MiB ratio to 200 MiB {:.3}",
        plan.wall.as_secs_f64(),
        plan.wall.as_secs_f64() / 10.0,
        plan.peak_mib,
        plan.peak_mib / 200.0
    );
    let api = FakeApi::builder().ms_per_char(1).start();
    let started = Instant::now();
    let mut child = ws
        .command(&api, "million.txt", &["--rpm", "60", "-q"])
        .spawn()
        .expect("spawn");
    while api.count() == 0 && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "first request, {lines} lines {:6.2} s  ratio to 10 s {:.3}",
        first.as_secs_f64(),
        first.as_secs_f64() / 10.0
    );

    ws.lines_named("done.txt", finished);
    let api = FakeApi::builder().ms_per_char(1).start();
    let first_run = ws.run_input(&api, "done.txt", &["--rpm", "1000000", "-j", "32", "-q"]);
    let again = ws.run_input(&api, "done.txt", &["--rpm", "1000000", "-j", "32", "-q"]);
    println!(
        "run {finished} items       peak RSS {:.1} MiB ratio to 64 MiB {:.3}   {:.0} s, {:.1} req/s, CPU {:.2} ms/req",
        first_run.peak_mib,
        first_run.peak_mib / 64.0,
        first_run.wall.as_secs_f64(),
        finished as f64 / first_run.wall.as_secs_f64(),
        first_run.cpu_ms / finished as f64
    );
    println!(
        "resume finished {finished}   {:8.2} s  ratio to 5 s {:.3}   peak RSS {:.1} MiB",
        again.wall.as_secs_f64(),
        again.wall.as_secs_f64() / 5.0,
        again.peak_mib
    );
}

/// `plan` of a 1,000-chapter EPUB (one XHTML document per chapter, an NCX): reading the zip,
/// the package, the table of contents and every chapter, then planning the items.
fn epub_book() {
    let ws = Workspace::new("epub");
    std::fs::write(ws.path("long.epub"), epub::generated(1000).build()).expect("write");
    println!("\n## EPUB");
    let plan = measure(
        Command::new(BIN)
            .args(["plan", "long.epub"])
            .current_dir(ws.root())
            .stdout(Stdio::null()),
    );
    println!(
        "plan 1000-chapter EPUB  {:8.2} s  ratio to 2 s {:.3}   peak RSS {:.1} MiB",
        plan.wall.as_secs_f64(),
        plan.wall.as_secs_f64() / 2.0,
        plan.peak_mib
    );
}

// ---------------------------------------------------------------------------------------------
// Plumbing

struct Workspace {
    dir: PathBuf,
}

struct Run {
    code: i32,
    wall: Duration,
    cpu_ms: f64,
    peak_mib: f64,
}

impl Workspace {
    fn new(name: &str) -> Workspace {
        let dir =
            std::env::temp_dir().join(format!("tts-batch-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("bench dir");
        Workspace { dir }
    }

    fn root(&self) -> &Path {
        &self.dir
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn write(&self, rel: &str, text: String) {
        std::fs::write(self.path(rel), text).expect("write");
    }

    fn lines(&self, n: usize) {
        self.lines_named("lines.txt", n);
    }

    fn lines_named(&self, name: &str, n: usize) {
        let mut text = String::with_capacity(n * 48);
        for i in 1..=n {
            text.push_str(&format!("Line {i} of the benchmark says a few words.\n"));
        }
        self.write(name, text);
    }

    fn command(&self, api: &FakeApi, input: &str, extra: &[&str]) -> Command {
        // BENCH_WRAP="strace -c -f -o /tmp/s.txt" runs the binary under a profiler.
        let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let logging = std::env::var_os("BENCH_LOG").is_some();
        cmd.args(["run", input, "--base-url", &api.base_url()])
            .args(extra.iter().filter(|a| !(logging && **a == "-q")))
            .current_dir(&self.dir)
            .env("OPENAI_API_KEY", KEY)
            .env_remove("OPENAI_BASE_URL")
            .stdout(Stdio::null());
        // BENCH_LOG=1 shows the binary's log (with -v, its phase timings).
        if std::env::var_os("BENCH_LOG").is_some() {
            cmd.arg("-v");
        } else {
            cmd.stderr(Stdio::null());
        }
        cmd
    }

    /// `run lines.txt --provider realtime` against the stand-in Realtime server.
    fn run_realtime(&self, api: &realtime::RealtimeApi, extra: &[&str]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "run",
            "lines.txt",
            "--provider",
            "realtime",
            "--base-url",
            &api.base_url(),
        ])
        .args(extra)
        .current_dir(&self.dir)
        .env("OPENAI_API_KEY", KEY)
        .env_remove("OPENAI_BASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        measure(&mut cmd)
    }

    fn run(&self, api: &FakeApi, extra: &[&str]) -> Run {
        self.run_input(api, "lines.txt", extra)
    }

    fn run_input(&self, api: &FakeApi, input: &str, extra: &[&str]) -> Run {
        measure(&mut self.command(api, input, extra))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        // Deleting thousands of files makes the next file creations on ext4 slower (it skips
        // recently freed inodes), which would bill one scenario for another's clean-up: the
        // folders go when the benchmark ends.
        if let Ok(mut left) = LEFT.lock() {
            left.push(self.dir.clone());
        }
    }
}

static LEFT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn remove_workspaces() {
    if let Ok(left) = LEFT.lock() {
        for dir in left.iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Runs a command to its end: wall time, CPU time of it and its children, and peak RSS.
fn measure(cmd: &mut Command) -> Run {
    let cpu_before = children_cpu_ms();
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let (peak, stop) = watch_peak_rss(&child);
    let status = wait(child);
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    Run {
        code: status,
        wall,
        cpu_ms: children_cpu_ms() - cpu_before,
        peak_mib: peak.load(Ordering::Relaxed) as f64 / 1024.0,
    }
}

fn wait(mut child: Child) -> i32 {
    child.wait().map(|s| s.code().unwrap_or(-1)).unwrap_or(-1)
}

/// Polls the child's VmHWM (its peak resident set, in KiB) until told to stop.
fn watch_peak_rss(child: &Child) -> (Arc<AtomicU64>, Arc<AtomicBool>) {
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let status = format!("/proc/{}/status", child.id());
    let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
    std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            if let Ok(text) = std::fs::read_to_string(&status)
                && let Some(kib) = text
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            {
                p.fetch_max(kib, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (peak, stop)
}

/// CPU time (user + system) of this process's waited-for children, in ms.
fn children_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 16 and 17 of /proc/PID/stat (cutime, cstime), counted from 1, in clock ticks of
    // 10 ms on Linux; `after` starts at field 3.
    let ticks: u64 = [13usize, 14]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    if std::env::var_os("BENCH_SPLIT").is_some() {
        eprintln!(
            "children user {} sys {} ticks",
            fields.get(13).unwrap_or(&"?"),
            fields.get(14).unwrap_or(&"?")
        );
    }
    ticks as f64 * 10.0
}

/// The same items through curl: one at a time (`parallel` 1, a shell loop) or with
/// `xargs -P parallel`. Returns wall time and CPU of all the processes.
fn curl_bench(ws: &Workspace, api: &FakeApi, items: usize, parallel: usize) -> Run {
    let bodies = ws.path(&format!("curl-{parallel}"));
    let _ = std::fs::remove_dir_all(&bodies);
    std::fs::create_dir_all(bodies.join("out")).expect("curl dir");
    let mut list = String::new();
    for i in 1..=items {
        let body = format!(
            "{{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"Line {i} of the benchmark says a few words.\"}}"
        );
        std::fs::write(bodies.join(format!("{i}.json")), body).expect("body");
        list.push_str(&format!("{i}\n"));
    }
    std::fs::write(bodies.join("list"), list).expect("list");
    let curl = format!(
        "curl -sS -o out/{{}}.mp3 -H 'Authorization: Bearer {KEY}' -H 'Content-Type: application/json' --data-binary @{{}}.json {}/audio/speech",
        api.base_url()
    );
    let script = if parallel == 1 {
        format!("while read i; do {}; done < list", curl.replace("{}", "$i"))
    } else {
        format!("xargs -P {parallel} -I{{}} {curl} < list")
    };
    measure(
        Command::new("sh")
            .args(["-c", &script])
            .current_dir(&bodies),
    )
}

fn busiest(times: &[u64], window: u64) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|&&t| t < times[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}
