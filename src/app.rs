//! The commands: `run`, `plan`, `status`, `report`, `retry`. Each reads its configuration,
//! drives the library's parts in order and returns an [`Outcome`] or an [`Error`].

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, JobArgs, QueueArgs, ReportArgs, ReportFormat, RetryArgs};
use crate::config::{Config, io_reason, queue_location};
use crate::error::{Error, Outcome, StopReason};
use crate::pacer::{Pacer, Rpm};
use crate::plan::{self, PlannedItem};
use crate::pool::Pool;
use crate::queue::{self, QueueHandle};
use crate::report;
use crate::speech::SpeechClient;
use crate::{manifest, progress, store};

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

/// Reads and plans the manifest a configuration names: every input error surfaces here, before
/// anything is written or sent.
fn load_plan(cfg: &Config) -> Result<Vec<PlannedItem>, Error> {
    let items = manifest::load(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let planned = plan::plan(items, &cfg.voice, cfg.max_chars)
        .map_err(|e| Error::input(format!("{}: {e}", cfg.input.display())))?;
    if cfg.voice.instructions.is_some()
        && !planned
            .iter()
            .any(|i| plan::takes_instructions(&i.settings.model))
    {
        tracing::warn!(
            "--instructions are only sent to gpt-4o-mini-tts models; {} ignores them",
            cfg.voice.model
        );
    }
    Ok(planned)
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

/// `run`: sync the manifest into the queue, work it, write the report.
async fn run(args: &JobArgs, quiet: bool) -> Result<Outcome, Error> {
    ignore_file_size_signal();
    let started = std::time::Instant::now();
    let phase = |what: &str| tracing::debug!("{what}: {} ms since start", started.elapsed().as_millis());
    let cfg = Config::from_args(args, &env)?;
    let planned = load_plan(&cfg)?;
    phase("manifest read and planned");
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
    let mut conn = queue::open(&cfg.db)?;
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
    let summary = queue::sync(&mut conn, &planned, &cfg.out, &pieces_dir)?;
    phase("queue synced");
    let adopted = adopt_stored_audio(&conn, &pieces_dir)?;
    phase("stored audio checked");
    if adopted > 0 {
        tracing::info!(
            "{adopted} pieces already had audio in the store from a run that stopped before recording it"
        );
    }
    tracing::info!(
        "{}: {} items ({} new, {} changed, {} unchanged, {} to rebuild, {} removed)",
        cfg.input.display(),
        planned.len(),
        summary.new,
        summary.changed,
        summary.unchanged,
        summary.rebuild,
        summary.removed
    );
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
    let to_write = pending_items(&conn)?;
    phase("ready to send");

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
    let progress = progress::spawn(Arc::clone(&pool), to_write, quiet, shown.clone());

    let worked = pool.run(cfg.concurrency).await;
    shown.cancel();
    let _ = progress.await;
    signals.abort();
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

    let rows = queue::item_rows(&conn)?;
    let failed = rows.iter().filter(|r| r.status == "failed").count();
    let outcome = match (&worked, stop_reason) {
        (_, Some(reason)) => Outcome::Stopped(reason),
        (Err(e), None) => Outcome::Stopped(StopReason::Storage(e.to_string())),
        (Ok(()), None) if failed > 0 => Outcome::SomeFailed(failed),
        (Ok(()), None) => Outcome::Done,
    };
    let outcome_text = match &outcome {
        Outcome::Done => "done".to_string(),
        Outcome::SomeFailed(n) => format!("finished with {n} failed items"),
        Outcome::Stopped(reason) => reason.to_string(),
    };
    queue::end_run(&conn, run_id, &outcome_text)?;
    let report = report::build(&conn)?;
    report::write_files(&report, &cfg.out).map_err(|e| {
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

/// Pending pieces whose audio is already in the store (a run died between saving the audio and
/// recording it) are recorded done instead of being requested again. A file in the store is
/// whole by construction (checked, synced, then renamed), but it is checked again anyway.
fn adopt_stored_audio(conn: &rusqlite::Connection, pieces_dir: &Path) -> Result<usize, Error> {
    let mut adopted = 0;
    for (fingerprint, format) in queue::pending_pieces(conn)? {
        let path = queue::piece_path(pieces_dir, &fingerprint, format);
        if !path.is_file() {
            continue;
        }
        match crate::audio::validate(format, &path) {
            Ok(seconds) => {
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                queue::adopt_piece(conn, &fingerprint, bytes, seconds)?;
                adopted += 1;
            }
            Err(e) => {
                tracing::warn!(
                    "{}: stored audio is damaged, requesting it again: {e}",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(adopted)
}

fn pending_items(conn: &rusqlite::Connection) -> Result<u64, Error> {
    Ok(queue::item_rows(conn)?
        .iter()
        .filter(|r| r.status == "pending")
        .count() as u64)
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
fn plan_command(args: &JobArgs) -> Result<Outcome, Error> {
    let cfg = Config::from_args(args, &env)?;
    let planned = load_plan(&cfg)?;
    let done: HashSet<String> = match queue::open_read_only(&cfg.db) {
        Ok(conn) => queue::done_pieces(&conn)?,
        Err(queue::QueueError::Missing(_)) => HashSet::new(),
        Err(e) => return Err(e.into()),
    };
    print!("{}", render_plan(&cfg, &planned, &done));
    Ok(Outcome::Done)
}

/// The text `plan` prints.
pub fn render_plan(cfg: &Config, planned: &[PlannedItem], done: &HashSet<String>) -> String {
    let mut out = String::new();
    let key_width = planned
        .iter()
        .map(|i| i.key.chars().count())
        .max()
        .unwrap_or(3)
        .clamp(3, 40);
    out.push_str(&format!(
        "{:<key_width$}  {:>6}  {:>9}  {:>8}  OUTPUT\n",
        "KEY", "PIECES", "CHARS", "REQUESTS"
    ));
    let mut seen: HashSet<&str> = HashSet::new();
    let (mut pieces, mut chars, mut requests, mut send_chars, mut cost) =
        (0usize, 0usize, 0usize, 0usize, 0.0f64);
    for item in planned {
        let mut item_requests = 0;
        for p in &item.pieces {
            if !done.contains(&p.fingerprint) && seen.insert(&p.fingerprint) {
                item_requests += 1;
                send_chars += p.characters;
                cost += plan::cost_usd(&item.settings.model, p.characters);
            }
        }
        pieces += item.pieces.len();
        chars += item.characters;
        requests += item_requests;
        out.push_str(&format!(
            "{:<key_width$}  {:>6}  {:>9}  {:>8}  {}\n",
            item.key,
            item.pieces.len(),
            item.characters,
            item_requests,
            item.output
        ));
    }
    let minutes_by_rpm = requests as f64 / cfg.rpm.planned() as f64;
    let minutes_by_cpm = cfg.cpm.map_or(0.0, |c| send_chars as f64 / c as f64);
    let minutes = minutes_by_rpm.max(minutes_by_cpm);
    out.push_str(&format!(
        "\n{} items, {pieces} pieces, {chars} characters\n{requests} requests to send ({send_chars} characters; {} pieces already have audio or repeat)\nestimated cost: ${cost:.2} (at ${:.2} per million characters for {})\nestimated time: at least {} at {} requests per minute{}\nout: {}\n",
        planned.len(),
        pieces - requests,
        plan::price_per_million_chars(&cfg.voice.model),
        cfg.voice.model,
        format_minutes(minutes),
        cfg.rpm,
        cfg.cpm.map(|c| format!(" and {c} characters per minute")).unwrap_or_default(),
        cfg.out.display(),
    ));
    out
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
    let errors: Vec<_> = report
        .items
        .iter()
        .filter(|i| i.error.is_some() && i.status != "removed")
        .collect();
    if !errors.is_empty() {
        println!("recent errors:");
        for item in errors.iter().rev().take(5) {
            println!(
                "  {} ({}): {}",
                item.key,
                item.status,
                item.error.as_deref().unwrap_or("")
            );
        }
    }
    Ok(Outcome::Done)
}

/// `report`: rewrite the files, or print one rendering.
fn report_command(args: &ReportArgs) -> Result<Outcome, Error> {
    let (db, default_out) = queue_location(&args.queue)?;
    let conn = queue::open_read_only(&db)?;
    let report = report::build(&conn)?;
    match args.format {
        Some(ReportFormat::Json) => print!("{}", report::to_json(&report)),
        Some(ReportFormat::Md) => print!("{}", report::to_markdown(&report)),
        Some(ReportFormat::Csv) => {
            let csv = report::to_csv(&report).map_err(|e| Error::Other(e.into()))?;
            print!("{}", String::from_utf8_lossy(&csv));
        }
        None => {
            let out = if report.out.is_empty() {
                default_out
            } else {
                PathBuf::from(&report.out)
            };
            report::write_files(&report, &out).map_err(|e| {
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
