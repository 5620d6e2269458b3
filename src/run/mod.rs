//! The commands: `run`, `plan`, `status`, `report`, `retry`. Each reads its configuration,
//! drives the library's parts in order and returns an [`Outcome`] or an [`Error`].

pub mod pacer;
pub mod progress;
pub mod workers;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, JobArgs, QueueArgs, ReportArgs, ReportFormat, RetryArgs};
use crate::config::{Config, Rpm, queue_location};
use crate::domain::io_reason;
use crate::error::{Error, Outcome, StopReason};
use crate::plan::{self, PlannedItem};
use crate::provider::SpeechClient;
use crate::queue::{self, QueueHandle};
use crate::report;
use crate::run::pacer::Pacer;
use crate::{manifest, store};
use workers::Pool;

/// The whole program for a parsed command line: logging, the runtime, the command, and the
/// exit status (errors are printed here). `main.rs` and the demo both call it.
pub fn main(cli: Cli) -> u8 {
    crate::logging::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(execute(cli));
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
    }
    // Workers still blocked on a hung request must not hold the exit.
    runtime.shutdown_background();
    crate::error::exit_code(&result)
}

/// Runs the command the command line names.
pub async fn execute(cli: Cli) -> Result<Outcome, Error> {
    let quiet = cli.log.quiet > 0;
    match cli.command {
        Command::Run(args) => run(&args, quiet).await,
        Command::Plan(args) => plan_command(&args),
        Command::Status(args) => status(&args),
        Command::Report(args) => report_command(&args),
        Command::Retry(args) => retry(&args),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Opens the manifest a configuration names and checks all of it, planning every item once
/// (without keeping them): every input error surfaces here, before anything is written or sent.
fn check_manifest(cfg: &Config) -> Result<manifest::Manifest, Error> {
    let manifest = manifest::open(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let defaults = Arc::new(cfg.voice.clone());
    let mut instructions_sent = false;
    manifest
        .check(|item| {
            let planned = plan::plan_item(0, item, &defaults, cfg.max_chars)?;
            instructions_sent |= planned.settings.sent_instructions().is_some();
            Ok(())
        })
        .map_err(Error::input)?;
    if cfg.voice.instructions.is_some() && !instructions_sent {
        tracing::warn!(
            "--instructions are only sent to gpt-4o-mini-tts models; {} ignores them",
            cfg.voice.model
        );
    }
    Ok(manifest)
}

/// The exclusive lock of a queue: an advisory lock on the database file itself, held for the
/// whole run and released by the kernel if the process dies, so a killed run never blocks the
/// next one and no lock file is left behind.
pub struct QueueLock {
    // Kept open until after the SQLite connection is closed: closing a descriptor of the
    // database would drop SQLite's own POSIX locks on it.
    _file: File,
}

impl QueueLock {
    /// Takes the lock, or fails with [`Error::Locked`] if another process holds it.
    pub fn acquire(db: &Path) -> Result<QueueLock, Error> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(db)
            .map_err(|e| {
                Error::input(format!(
                    "{}: cannot open the queue: {}",
                    db.display(),
                    io_reason(&e)
                ))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(QueueLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(db.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::input(format!(
                "{}: cannot lock the queue: {e}",
                db.display()
            ))),
        }
    }
}

/// The settings a report shows (never the key).
fn settings_json(cfg: &Config) -> String {
    serde_json::json!({
        "base_url": cfg.base_url,
        "model": cfg.voice.model,
        "voice": cfg.voice.voice,
        "audio_format": cfg.voice.format,
        "speed": cfg.voice.speed,
        "instructions": cfg.voice.instructions,
        "rpm": match cfg.rpm {
            Rpm::Fixed(n) => serde_json::json!(n),
            Rpm::Auto => serde_json::json!("auto"),
        },
        "cpm": cfg.cpm,
        "concurrency": cfg.concurrency,
        "max_attempts": cfg.max_attempts,
        "timeout_seconds": cfg.timeout.as_secs(),
        "max_chars": cfg.max_chars,
        "max_cost": cfg.max_cost,
        "db": cfg.db.display().to_string(),
    })
    .to_string()
}

/// How many items are synced into the queue per transaction while the workers already run.
const SYNC_CHUNK: usize = 2000;

/// `run`: sync the manifest into the queue, work it, write the report.
async fn run(args: &JobArgs, quiet: bool) -> Result<Outcome, Error> {
    ignore_file_size_signal();
    let started = std::time::Instant::now();
    let phase =
        |what: &str| tracing::debug!("{what}: {} ms since start", started.elapsed().as_millis());
    let cfg = Config::from_args(args, &env)?;
    let manifest = check_manifest(&cfg)?;
    phase("manifest checked");
    let key = cfg.api_key(&env)?;

    std::fs::create_dir_all(&cfg.out).map_err(|e| {
        Error::input(format!(
            "{}: cannot create the output folder: {}",
            cfg.out.display(),
            io_reason(&e)
        ))
    })?;
    if let Some(parent) = cfg.db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::input(format!(
                "{}: cannot create the queue's folder: {}",
                parent.display(),
                io_reason(&e)
            ))
        })?;
    }
    let lock = QueueLock::acquire(&cfg.db)?;
    let conn = queue::open(&cfg.db)?;
    let pieces_dir = store::pieces_dir(&cfg.db);
    std::fs::create_dir_all(&pieces_dir).map_err(|e| {
        Error::input(format!(
            "{}: cannot create the piece store: {}",
            pieces_dir.display(),
            io_reason(&e)
        ))
    })?;

    // What a killed run left: its claims and its temporary files.
    let released = queue::release_dead_claims(&conn)?;
    let swept = store::sweep_temps(&cfg.out) + store::sweep_temps(&pieces_dir);
    if released + swept > 0 {
        tracing::info!(
            "recovered from an earlier run: {released} claims released, {swept} temporary files removed"
        );
    }
    let after_crash = queue::last_run(&conn)?.is_some_and(|r| r.finished_at.is_none());
    let run_id = queue::begin_run(
        &conn,
        &cfg.input.display().to_string(),
        &cfg.out.display().to_string(),
        &settings_json(&cfg),
    )?;
    let now = queue::now_ms();
    let recent: Vec<(Duration, u64)> = queue::recent_requests(&conn, now, 60_000)?
        .into_iter()
        .map(|(at, chars)| {
            (
                Duration::from_millis((now - at).max(0) as u64),
                chars as u64,
            )
        })
        .collect();

    let client = SpeechClient::new(&cfg.base_url, key, cfg.timeout, cfg.concurrency)
        .map_err(|e| Error::input(format!("cannot set up the HTTP client: {e}")))?;
    let (handle, writer) = QueueHandle::spawn(conn).map_err(|e| Error::Other(e.into()))?;
    let stop = CancellationToken::new();
    let pool = Arc::new(Pool::new(
        run_id,
        handle,
        client,
        cfg.out.clone(),
        pieces_dir,
        Pacer::new(cfg.rpm, cfg.cpm, &recent, after_crash),
        cfg.max_attempts,
        cfg.max_cost,
        stop.clone(),
    ));
    let signals = spawn_signal_handler(Arc::clone(&pool));
    let shown = CancellationToken::new();
    let progress = progress::spawn(Arc::clone(&pool), quiet, shown.clone());
    phase("ready to send");

    // The manifest goes into the queue a chunk at a time while the workers already send what
    // is in: the first request leaves long before a million-line manifest is synced.
    let sync = spawn_sync(Arc::clone(&pool), manifest, &cfg);
    let worked = pool.run(cfg.concurrency).await;
    let synced = sync.await;
    pool.finish().await;
    shown.cancel();
    let _ = progress.await;
    signals.abort();
    let sync_error = match synced {
        Ok(Ok(summary)) => {
            tracing::info!(
                "{}: {} new, {} changed, {} unchanged, {} to rebuild, {} removed items; {} pieces found in the store",
                cfg.input.display(),
                summary.new,
                summary.changed,
                summary.unchanged,
                summary.rebuild,
                summary.removed,
                summary.adopted
            );
            None
        }
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(format!("syncing the manifest failed: {e}")),
    };
    let stop_reason = pool.stop_reason();
    let stats = (
        pool.stats.requests.load(Ordering::Relaxed),
        pool.stats.retries.load(Ordering::Relaxed),
        pool.stats.items_done.load(Ordering::Relaxed),
    );
    // Dropping the last handle ends the writer thread, which gives the connection back.
    drop(pool);
    let conn = writer
        .join()
        .map_err(|_| Error::Other(anyhow::anyhow!("the queue writer thread failed")))?;
    queue::release_dead_claims(&conn)?;

    let failed = queue::count_items(&conn, "failed")?;
    let outcome = match (&worked, stop_reason, sync_error) {
        (_, Some(reason), _) => Outcome::Stopped(reason),
        (_, None, Some(e)) => Outcome::Stopped(StopReason::Storage(e)),
        (Err(e), None, None) => Outcome::Stopped(StopReason::Storage(e.to_string())),
        (Ok(()), None, None) if failed > 0 => Outcome::SomeFailed(failed),
        (Ok(()), None, None) => Outcome::Done,
    };
    let outcome_text = match &outcome {
        Outcome::Done => "done".to_string(),
        Outcome::SomeFailed(n) => format!("finished with {n} failed items"),
        Outcome::Stopped(reason) => reason.to_string(),
    };
    queue::end_run(&conn, run_id, &outcome_text)?;
    let report = report::build(&conn)?;
    report::write_files(&conn, &report, &cfg.out).map_err(|e| {
        Error::Other(anyhow::anyhow!(
            "{}: cannot write the report: {e}",
            cfg.out.display()
        ))
    })?;
    drop(conn);
    drop(lock);

    let t = &report.totals;
    if !quiet {
        eprintln!(
            "{outcome_text}: {} of {} items done ({} written now), {} failed, {} pending; {} requests ({} retries) in this run; {:.1} minutes of audio; report: {}",
            t.done,
            t.items,
            stats.2,
            t.failed,
            t.pending,
            stats.0,
            stats.1,
            t.audio_seconds / 60.0,
            cfg.out.join("report.json").display()
        );
    }
    Ok(outcome)
}

/// Syncs the manifest into the queue a chunk at a time on a blocking thread: each chunk is
/// planned, sent to the queue's writer as one job, and its items with all audio at hand are
/// handed to the pool to write. A stop ends it early (items it did not reach are simply not
/// synced, and none is marked removed). The pool learns when it is over, stop or not.
fn spawn_sync(
    pool: Arc<Pool>,
    manifest: manifest::Manifest,
    cfg: &Config,
) -> tokio::task::JoinHandle<Result<queue::SyncSummary, Error>> {
    let defaults = Arc::new(cfg.voice.clone());
    let (max_chars, out) = (cfg.max_chars, cfg.out.clone());
    let blocking_pool = Arc::clone(&pool);
    let work = tokio::task::spawn_blocking(move || {
        let pool = blocking_pool;
        let mut summary = queue::SyncSummary::default();
        let mut chunk = Vec::with_capacity(SYNC_CHUNK);
        let flush =
            |chunk: Vec<PlannedItem>, summary: &mut queue::SyncSummary| -> Result<(), Error> {
                let (run, out, dir) = (pool.run, out.clone(), pool.pieces_dir.clone());
                let (ready, part) = pool.queue.call_blocking(move |c| {
                    let mut part = queue::SyncSummary::default();
                    let ready = queue::sync_chunk(c, run, &chunk, &out, &dir, &mut part)?;
                    Ok((ready, part))
                })?;
                summary.add(&part);
                pool.synced_more(part.pending as u64);
                for item in ready {
                    pool.spawn_build(item);
                }
                Ok(())
            };
        for (seq, item) in manifest.items().map_err(Error::input)?.enumerate() {
            if pool.stop.is_cancelled() {
                return Ok(summary);
            }
            let item = item.map_err(Error::input)?;
            chunk.push(plan::plan_item(seq, &item, &defaults, max_chars).map_err(Error::input)?);
            if chunk.len() == SYNC_CHUNK {
                flush(std::mem::take(&mut chunk), &mut summary)?;
            }
        }
        flush(chunk, &mut summary)?;
        let run = pool.run;
        summary.removed = pool
            .queue
            .call_blocking(move |c| queue::finish_sync(c, run))?;
        Ok(summary)
    });
    tokio::spawn(async move {
        let result = work
            .await
            .map_err(|e| Error::Other(anyhow::anyhow!("syncing the manifest failed: {e}")))
            .and_then(|r| r);
        pool.sync_finished();
        result
    })
}

/// A write past `RLIMIT_FSIZE` raises SIGXFSZ, which kills by default; caught, the write fails
/// with EFBIG instead, and the run stops with a clear message and no partial file.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    {
        // SIGXFSZ is 25 on Linux, the BSDs and macOS.
        let xfsz = tokio::signal::unix::SignalKind::from_raw(25);
        if let Ok(mut stream) = tokio::signal::unix::signal(xfsz) {
            tokio::spawn(async move { while stream.recv().await.is_some() {} });
        }
    }
}

/// First SIGINT/SIGTERM: stop sending, let requests in flight finish. Second: remove our
/// temporary files and exit at once (the queue is consistent at every commit).
fn spawn_signal_handler(pool: Arc<Pool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            let mut seen = 0;
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                seen += 1;
                if seen == 1 {
                    let in_flight = pool.stats.in_flight.load(Ordering::Relaxed);
                    tracing::warn!(
                        "stopping: no new requests; waiting for {in_flight} in flight (signal again to quit at once)"
                    );
                    pool.stop_for(StopReason::Signal);
                } else {
                    store::remove_live_temps();
                    eprintln!("stopped at once; run the same command again to resume");
                    std::process::exit(3);
                }
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_ok() {
                pool.stop_for(StopReason::Signal);
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                store::remove_live_temps();
                std::process::exit(3);
            }
        }
    })
}

/// `plan`: what a run would do. Reads the queue if there is one; writes and sends nothing.
/// Streams: one item at a time, whatever the manifest's size.
fn plan_command(args: &JobArgs) -> Result<Outcome, Error> {
    use std::io::Write;
    let cfg = Config::from_args(args, &env)?;
    let manifest = check_manifest(&cfg)?;
    let done: HashSet<u128> = match queue::open_read_only(&cfg.db) {
        Ok(conn) => queue::done_pieces(&conn)?
            .iter()
            .filter_map(|fp| fingerprint_bits(fp))
            .collect(),
        Err(queue::QueueError::Missing(_)) => HashSet::new(),
        Err(e) => return Err(e.into()),
    };
    let defaults = Arc::new(cfg.voice.clone());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let key_width = 24;
    let write_err = |e: std::io::Error| Error::Other(e.into());
    writeln!(
        out,
        "{:<key_width$}  {:>6}  {:>9}  {:>8}  OUTPUT",
        "KEY", "PIECES", "CHARS", "REQUESTS"
    )
    .map_err(write_err)?;
    let mut seen: HashSet<u128> = HashSet::new();
    let mut totals = PlanTotals::default();
    for (seq, item) in manifest.items().map_err(Error::input)?.enumerate() {
        let item = plan::plan_item(seq, &item.map_err(Error::input)?, &defaults, cfg.max_chars)
            .map_err(Error::input)?;
        let mut item_requests = 0;
        for p in &item.pieces {
            let bits = fingerprint_bits(&p.fingerprint).unwrap_or_default();
            if !done.contains(&bits) && seen.insert(bits) {
                item_requests += 1;
                totals.send_chars += p.characters;
                totals.cost += plan::cost_usd(&item.settings.model, p.characters);
            }
        }
        totals.items += 1;
        totals.pieces += item.pieces.len();
        totals.chars += item.characters;
        totals.requests += item_requests;
        writeln!(
            out,
            "{:<key_width$}  {:>6}  {:>9}  {:>8}  {}",
            item.key,
            item.pieces.len(),
            item.characters,
            item_requests,
            item.output
        )
        .map_err(write_err)?;
    }
    write!(out, "{}", render_plan_totals(&cfg, &totals)).map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(Outcome::Done)
}

/// The first 128 bits of a hex fingerprint: a set of these is a fifth the size of strings.
fn fingerprint_bits(hex: &str) -> Option<u128> {
    u128::from_str_radix(hex.get(..32)?, 16).ok()
}

/// What `plan` adds up.
#[derive(Debug, Default)]
pub struct PlanTotals {
    pub items: usize,
    pub pieces: usize,
    pub chars: usize,
    pub requests: usize,
    pub send_chars: usize,
    pub cost: f64,
}

/// The closing lines of `plan`.
pub fn render_plan_totals(cfg: &Config, t: &PlanTotals) -> String {
    let minutes_by_rpm = t.requests as f64 / cfg.rpm.planned() as f64;
    let minutes_by_cpm = cfg.cpm.map_or(0.0, |c| t.send_chars as f64 / c as f64);
    let minutes = minutes_by_rpm.max(minutes_by_cpm);
    format!(
        "\n{} items, {} pieces, {} characters\n{} requests to send ({} characters; {} pieces already have audio or repeat)\nestimated cost: ${:.2} (at ${:.2} per million characters for {})\nestimated time: at least {} at {} requests per minute{}\nout: {}\n",
        t.items,
        t.pieces,
        t.chars,
        t.requests,
        t.send_chars,
        t.pieces - t.requests,
        t.cost,
        plan::price_per_million_chars(&cfg.voice.model),
        cfg.voice.model,
        format_minutes(minutes),
        cfg.rpm,
        cfg.cpm
            .map(|c| format!(" and {c} characters per minute"))
            .unwrap_or_default(),
        cfg.out.display(),
    )
}

fn format_minutes(minutes: f64) -> String {
    let total = (minutes * 60.0).ceil() as u64;
    format!(
        "{}h{:02}m{:02}s",
        total / 3600,
        (total / 60) % 60,
        total % 60
    )
}

/// `status`: counts, progress and recent errors, read-only.
fn status(args: &QueueArgs) -> Result<Outcome, Error> {
    let (db, _) = queue_location(args)?;
    let conn = queue::open_read_only(&db)?;
    let report = report::build(&conn)?;
    let pieces = queue::piece_counts(&conn)?;
    let t = &report.totals;
    let piece_total: u64 = pieces.values().sum();
    let piece_done = pieces.get("done").copied().unwrap_or(0);
    let percent = if t.items == 0 {
        100.0
    } else {
        t.done as f64 * 100.0 / t.items as f64
    };
    println!("queue: {}", db.display());
    if let Some(started) = &report.started_at {
        println!(
            "last run: started {started}, {}",
            match (&report.finished_at, &report.outcome) {
                (Some(end), Some(outcome)) => format!("ended {end}: {outcome}"),
                _ => "still running (or killed)".to_string(),
            }
        );
    }
    println!(
        "items: {} ({} done, {} failed, {} pending, {} removed): {percent:.1}% done",
        t.items, t.done, t.failed, t.pending, t.removed
    );
    println!(
        "pieces: {piece_total} ({piece_done} with audio, {} in flight, {} failed)",
        pieces.get("claimed").copied().unwrap_or(0),
        pieces.get("failed").copied().unwrap_or(0)
    );
    println!(
        "requests: {} ({} retries); audio: {:.1} minutes; estimated cost so far: ${:.2}",
        t.requests,
        t.retries,
        t.audio_seconds / 60.0,
        t.estimated_cost_usd
    );
    let errors = queue::recent_errors(&conn, 5)?;
    if !errors.is_empty() {
        println!("recent errors:");
        for (key, status, error) in errors {
            println!("  {key} ({status}): {error}");
        }
    }
    Ok(Outcome::Done)
}

/// `report`: rewrite the files, or print one rendering.
fn report_command(args: &ReportArgs) -> Result<Outcome, Error> {
    let (db, default_out) = queue_location(&args.queue)?;
    let conn = queue::open_read_only(&db)?;
    let report = report::build(&conn)?;
    let printed =
        |e: report::ReportError| Error::Other(anyhow::anyhow!("cannot print the report: {e}"));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Some(ReportFormat::Json) => {
            let mut json =
                report::JsonWriter::begin(&mut out, &report).map_err(|e| printed(e.into()))?;
            report::each_item(&conn, |item| json.item(item)).map_err(printed)?;
            json.end().map_err(|e| printed(e.into()))?;
        }
        Some(ReportFormat::Md) => {
            out.write_all(report::markdown_head(&report).as_bytes())
                .map_err(|e| printed(e.into()))?;
            report::each_item(&conn, |item| {
                out.write_all(report::markdown_row(item).as_bytes())
            })
            .map_err(printed)?;
        }
        Some(ReportFormat::Csv) => {
            let mut csv = report::CsvWriter::begin(&mut out).map_err(|e| printed(e.into()))?;
            report::each_item(&conn, |item| csv.item(item)).map_err(printed)?;
            csv.end().map_err(|e| printed(e.into()))?;
        }
        None => {
            let out = if report.out.is_empty() {
                default_out
            } else {
                PathBuf::from(&report.out)
            };
            report::write_files(&conn, &report, &out).map_err(|e| {
                Error::Other(anyhow::anyhow!(
                    "{}: cannot write the report: {e}",
                    out.display()
                ))
            })?;
            println!(
                "wrote {} and {}",
                out.join("report.json").display(),
                out.join("report.csv").display()
            );
        }
    }
    use std::io::Write;
    out.flush().map_err(|e| printed(e.into()))?;
    Ok(Outcome::Done)
}

/// `retry`: failed items back to pending (needs the queue's lock: not during a run).
fn retry(args: &RetryArgs) -> Result<Outcome, Error> {
    let (db, _) = queue_location(&args.queue)?;
    if !db.is_file() {
        return Err(queue::QueueError::Missing(db).into());
    }
    let lock = QueueLock::acquire(&db)?;
    let mut conn = queue::open(&db)?;
    let known = queue::item_keys(&conn)?;
    if let Some(unknown) = args.keys.iter().find(|k| !known.contains(*k)) {
        return Err(Error::input(format!(
            "--key {unknown}: no such item in {}",
            db.display()
        )));
    }
    let n = queue::retry_failed(&mut conn, &args.keys)?;
    drop(conn);
    drop(lock);
    println!("{n} failed items back to pending; run the same command again to try them");
    Ok(Outcome::Done)
}
