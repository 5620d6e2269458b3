//! The `run` command, as the pipeline it is: [`prepare`] (check the manifest, take the queue's
//! lock, recover what a killed run left: it can only refuse, exit 2 or 4, nothing sent), [`work`]
//! (`-j` workers while a blocking task syncs the manifest into the queue) and [`finish`] (the
//! book, the report, the summary: it can only finish or stop, exit 0, 1 or 3). Only `prepare`
//! returns an [`Error`]; after it, every failure is a [`StopReason`] by type.

mod checks;
pub mod hear;
pub mod pacer;
pub mod progress;
mod quiet;
mod signals;
mod streak;
mod sync;
pub mod workers;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::Connection;
use tokio_util::sync::CancellationToken;

use crate::book::tags::RunTags;
use crate::book::{self, BookFormat, BookSettings};
use crate::config::Config;
use crate::domain::{ItemState, ProviderKind, io_reason};
use crate::error::{Error, Outcome, StopReason, StorageError};
use crate::provider::realtime::Realtime;
use crate::provider::voice;
use crate::provider::{Provider, SpeechClient};
use crate::queue::{self, QueueHandle, QueueLock, SyncSummary};
use crate::{manifest, plan, report, store};
use pacer::Pacer;
use workers::Pool;

/// `run`: prepare, work, finish.
pub async fn run(cfg: Config, quiet: bool) -> Result<Outcome, Error> {
    signals::ignore_file_size_signal();
    let ready = prepare(cfg)?;
    let (worked, signals) = work(ready, quiet).await;
    // The end runs on the blocking pool, so that the signal handler, kept until the run ends,
    // is heard while the playlist, subtitles and book are made.
    let finished = tokio::task::spawn_blocking(move || finish(worked, quiet)).await;
    signals.abort();
    Ok(finished.unwrap_or_else(|e| {
        let reason = StopReason::Storage(StorageError::Task {
            what: "finishing the run",
            source: Arc::new(e),
        });
        eprintln!("error: {reason}; run the same command again to resume");
        Outcome::Stopped(reason)
    }))
}

/// A run ready to send: the manifest checked, the voice set up, the queue locked, opened and
/// recovered, the run recorded, the workers' pool built. Nothing was sent.
struct Ready {
    cfg: Config,
    manifest: manifest::Manifest,
    /// Each item's voice by its language (espeak).
    voices: voice::ItemVoices,
    lock: QueueLock,
    run_id: i64,
    pool: Arc<Pool>,
    writer: std::thread::JoinHandle<Connection>,
    book: BookSettings,
    /// With `--verify`: how pieces are heard back.
    hearing: Option<Arc<hear::Hearing>>,
}

/// Everything that can refuse a run, before its first request: only this returns an [`Error`].
fn prepare(mut cfg: Config) -> Result<Ready, Error> {
    let started = std::time::Instant::now();
    let phase =
        |what: &str| tracing::debug!("{what}: {} ms since start", started.elapsed().as_millis());
    let manifest = manifest::open(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let mut choice = voice::VoiceChoice::of(&mut cfg);
    let espeak = voice::load_espeak(&mut choice, &manifest)?;
    let piper = voice::load_piper(&mut choice, &manifest)?;
    let defaults = Arc::new(cfg.voice.clone());
    let (item_count, characters) =
        plan::check_manifest(&manifest, &defaults).map_err(Error::input)?;
    if let Some(notice) = cfg.shutdown_notice(characters) {
        tracing::warn!("{notice}");
    }
    if let Some(espeak) = &espeak {
        voice::check_espeak_items(&manifest, &cfg.input, &defaults, espeak)?;
    }
    if let Some(piper) = &piper {
        voice::check_piper_items(&manifest, &cfg.input, &defaults, piper)?;
    }
    phase("manifest checked");
    if cfg.book.format == Some(BookFormat::M4b) {
        // The book is made at the end, but a missing ffmpeg is a setup error: say so now,
        // before anything is paid for.
        book::ffmpeg::find().map_err(|e| Error::input(e.to_string()))?;
    }
    // Sidecar files are for audiobooks: a book manifest, or items joined into a book file.
    let book_sidecars = cfg.book.sidecars && (manifest.is_book() || cfg.book.format.is_some());
    let book_meta = Arc::new(
        book::meta::resolve(&cfg.book, &manifest.book_info(), &cfg.input).map_err(Error::input)?,
    );
    let run_tags = Arc::new(RunTags {
        book: Arc::clone(&book_meta),
        total: u32::try_from(item_count).unwrap_or(u32::MAX),
    });
    let voices = voice::ItemVoices::new(
        &cfg.voice.voice,
        cfg.voice_given,
        &manifest,
        espeak.as_ref(),
    );
    // The API's key is read before anything is written; espeak-ng and piper need none and no
    // pacing.
    let (provider, paced): (Arc<dyn Provider>, bool) = match (espeak, piper) {
        (Some(espeak), _) => (Arc::new(espeak), false),
        (None, Some(piper)) => (Arc::new(piper), false),
        (None, None) if cfg.provider == ProviderKind::Realtime => {
            let key = cfg.optional_api_key(&crate::config::env)?;
            let realtime = Realtime::new(&cfg.base_url, &cfg.voice.model, key, cfg.timeout)
                .map_err(|e| Error::input(format!("--base-url: {e}")))?;
            (Arc::new(realtime), true)
        }
        (None, None) => {
            let key = cfg.optional_api_key(&crate::config::env)?;
            let client = SpeechClient::new(&cfg.base_url, key, cfg.timeout, cfg.concurrency)
                .map_err(|e| Error::input(format!("cannot set up the HTTP client: {e}")))?
                .with_shutdown_advice(plan::prices::switch_advice(&cfg.input, characters));
            (Arc::new(client), true)
        }
    };

    // The transcription key too, with --verify.
    let hearing = hear::Hearing::from_config(&cfg)?;

    create_folder(&cfg.out, "the output folder")?;
    if let Some(parent) = cfg.db.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_folder(parent, "the queue's folder")?;
    }
    let lock = QueueLock::acquire(&cfg.db)?;
    let conn = queue::open(&cfg.db)?;
    create_folder(&cfg.pieces, "the piece store")?;
    let durable = store::GroupSync::start(&[&cfg.pieces, &cfg.out]).map_err(|e| {
        Error::input(format!(
            "cannot start syncing files to disk: {}",
            io_reason(&e)
        ))
    })?;

    // What a killed run left: its claims and its temporary files.
    let released = queue::release_dead_claims(&conn)?;
    let swept = store::sweep_temps(&cfg.out) + store::sweep_temps(&cfg.pieces);
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
        &report::settings_json(&cfg).to_string(),
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

    let (handle, writer) = QueueHandle::spawn(conn).map_err(|e| Error::Other(e.into()))?;
    let pool = Arc::new(
        Pool::new(
            run_id,
            handle,
            provider,
            cfg.out.clone(),
            cfg.pieces.clone(),
            durable,
            if paced {
                Pacer::new(cfg.rpm, cfg.cpm, &recent, after_crash)
            } else {
                Pacer::unpaced()
            },
            cfg.max_attempts,
            cfg.max_cost,
            Duration::from_millis(cfg.pause_ms),
            CancellationToken::new(),
            run_tags,
        )
        .priced_at(&cfg.base_url)
        .with_hearing(hearing.clone())
        .with_max_wer(cfg.max_wer),
    );
    if cfg.max_cost.is_some() && plan::cost_usd(&cfg.voice.model, &cfg.base_url, 1).is_none() {
        tracing::warn!(
            "no published price for `{}`: --max-cost counts it at ${} per million characters",
            cfg.voice.model,
            workers::UNPRICED_PER_MILLION_CHARS
        );
    }
    let book = BookSettings {
        meta: book_meta,
        format: cfg.book.format,
        gap_ms: cfg.book.chapter_gap_ms,
        subtitles: cfg.book.subtitles,
        pause_ms: u32::try_from(cfg.pause_ms).unwrap_or(u32::MAX),
        cache: book::cache_dir(&cfg.db),
        sidecars: book_sidecars,
    };
    phase("ready to send");
    Ok(Ready {
        cfg,
        manifest,
        voices,
        lock,
        run_id,
        pool,
        writer,
        book,
        hearing,
    })
}

/// Creates a folder the run writes into; a failure is bad setup, before anything is sent.
fn create_folder(path: &std::path::Path, what: &str) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|e| {
        Error::input(format!(
            "{}: cannot create {what}: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

/// A run whose workers are done: why it stopped, if it did, and the counts of this run.
struct Worked {
    cfg: Config,
    /// Held until the run's last write to the queue.
    lock: QueueLock,
    run_id: i64,
    writer: std::thread::JoinHandle<Connection>,
    book: BookSettings,
    hearing: Option<Arc<hear::Hearing>>,
    /// Fired by the first signal: the book phase watches it.
    interrupted: CancellationToken,
    stopped: Option<StopReason>,
    /// Requests, retries and items written in this run.
    stats: (u64, u64, u64),
    /// What this run spent (speech and transcription), for `--max-cost` after the workers.
    spent_usd: f64,
}

/// The workers send while the manifest is synced; every failure becomes a [`StopReason`].
/// Returns with the signal handler still running: it is kept until the run ends.
async fn work(ready: Ready, quiet: bool) -> (Worked, tokio::task::JoinHandle<()>) {
    let (cfg, pool) = (ready.cfg, ready.pool);
    // Fired by the first signal, which also stops the pool while it lives; the handler holds
    // the pool weakly, so dropping the pool below still ends the queue's writer thread.
    let interrupted = CancellationToken::new();
    let signals = signals::spawn_signal_handler(Arc::downgrade(&pool), interrupted.clone());
    let shown = CancellationToken::new();
    let progress = progress::spawn(Arc::clone(&pool), quiet, shown.clone());

    // The manifest goes into the queue a chunk at a time while the workers already send what
    // is in: the first request leaves long before a million-line manifest is synced.
    let defaults = Arc::new(cfg.voice.clone());
    let sync = sync::spawn_sync(
        Arc::clone(&pool),
        ready.manifest,
        defaults,
        cfg.max_chars,
        cfg.pause_ms,
        ready.voices,
        cfg.concurrency,
    );
    let worked = pool.run(cfg.concurrency).await;
    let synced = sync.await;
    pool.finish().await;
    shown.cancel();
    let _ = progress.await;
    let sync_error = match synced {
        Ok(Ok(summary)) => {
            log_sync(&cfg.input, &summary);
            None
        }
        Ok(Err(e)) => Some(e),
        Err(e) => Some(StorageError::Task {
            what: "syncing the manifest",
            source: Arc::new(e),
        }),
    };
    let stopped = match (pool.stop_reason(), sync_error, worked) {
        (Some(reason), _, _) => Some(reason),
        (None, Some(e), _) => Some(StopReason::Storage(e)),
        (None, None, Err(e)) => Some(StopReason::Storage(e)),
        (None, None, Ok(())) => None,
    };
    let stats = (
        pool.stats.requests.load(Ordering::Relaxed),
        pool.stats.retries.load(Ordering::Relaxed),
        pool.stats.items_done.load(Ordering::Relaxed),
    );
    let spent_usd = pool.spent_usd();
    // Dropping the last handle ends the writer thread, which gives the connection back.
    drop(pool);
    let worked = Worked {
        cfg,
        lock: ready.lock,
        run_id: ready.run_id,
        writer: ready.writer,
        book: ready.book,
        hearing: ready.hearing,
        interrupted,
        stopped,
        stats,
        spent_usd,
    };
    (worked, signals)
}

fn log_sync(input: &std::path::Path, summary: &SyncSummary) {
    tracing::info!(
        "{}: {} new, {} changed, {} unchanged, {} to rebuild, {} removed items; {} pieces found in the store",
        input.display(),
        summary.new,
        summary.changed,
        summary.unchanged,
        summary.rebuild,
        summary.removed,
        summary.adopted
    );
}

/// The end of a run that sent: the book, the report, the lines. It can only finish (0, 1) or
/// stop (3): a failure here is a [`StopReason`], never "nothing was sent".
fn finish(worked: Worked, quiet: bool) -> Outcome {
    match record(worked, quiet) {
        Ok(outcome) => outcome,
        Err(e) => {
            let reason = StopReason::Storage(e);
            eprintln!("error: {reason}; run the same command again to resume");
            Outcome::Stopped(reason)
        }
    }
}

/// The outcome recorded: claims released, the book files written, the run ended in the queue,
/// the report written and the summary printed. The queue's lock (in `w`) is let go last.
fn record(w: Worked, quiet: bool) -> Result<Outcome, StorageError> {
    let cfg = &w.cfg;
    let conn = w.writer.join().map_err(|_| StorageError::Writer)?;
    queue::release_dead_claims(&conn)?;
    let mut stopped = w.stopped.clone();
    // Pieces done but not heard back (audio a killed run saved, or a transcription that
    // failed): heard now, before the subtitles are written from their timings. A signal
    // stops it.
    if let Some(hearing) = &w.hearing
        && stopped.is_none()
        && !w.interrupted.is_cancelled()
    {
        let heard = tokio::runtime::Handle::current().block_on(hear::hear_done(
            &conn,
            hearing,
            &cfg.pieces,
            cfg.concurrency,
            cfg.max_cost.map(|max| (max - w.spent_usd).max(0.0)),
            &w.interrupted,
        ));
        if let Err(reason) = heard {
            stopped = Some(reason);
        }
    }
    let failed = queue::count_items(&conn, ItemState::Failed)?;
    let outcome = match stopped {
        Some(reason) => Outcome::Stopped(reason),
        None if failed > 0 => Outcome::SomeFailed(failed),
        None => Outcome::Done,
    };
    // The playlist, subtitles and book file, from what is done; not after a signal, which
    let mut retagged = 0;
    // asks the run to end now. A signal while they are made stops them
    // (`BookError::Cancelled`, their ffmpeg processes killed, no partial file).
    let signalled = matches!(outcome, Outcome::Stopped(StopReason::Signal));
    let outcome = if signalled || w.interrupted.is_cancelled() {
        match outcome {
            Outcome::Stopped(reason) => Outcome::Stopped(reason),
            Outcome::Done | Outcome::SomeFailed(_) => Outcome::Stopped(StopReason::Signal),
        }
    } else {
        match book::finish(&conn, &cfg.out, &w.book, &w.interrupted) {
            Err(book::BookError::Cancelled) => Outcome::Stopped(StopReason::Signal),
            Ok(finished) => {
                if let Some(why) = finished.book_waiting {
                    tracing::warn!("{why}");
                }
                retagged = finished.retagged;
                outcome
            }
            Err(e) => {
                tracing::error!("{e}");
                match outcome {
                    Outcome::Done => Outcome::Stopped(StopReason::Book(e.to_string())),
                    other => other,
                }
            }
        }
    };
    let outcome_text = match &outcome {
        Outcome::Done => "done".to_string(),
        Outcome::SomeFailed(n) => format!("finished with {n} failed items"),
        Outcome::Stopped(reason) => reason.to_string(),
    };
    queue::end_run(&conn, w.run_id, &outcome_text)?;
    let report = report::build(&conn)?;
    report::write_files(&conn, &report, &cfg.out).map_err(|e| StorageError::Report {
        path: cfg.out.clone(),
        source: Arc::new(e),
    })?;
    if quiet {
        quiet::print_failures(&conn, &outcome)?;
    }
    let misheard = match &w.hearing {
        Some(hearing) => queue::items_over(&conn, hearing.max_wer)?,
        None => Vec::new(),
    };
    drop(conn);
    drop(w.lock);

    let t = &report.totals;
    let (requests, retries, written) = w.stats;
    if !quiet {
        eprintln!(
            "{outcome_text}: {} of {} items done ({written} written now), {} failed, {} pending; {requests} requests ({retries} retries) in this run; {:.1} minutes of audio; report: {}",
            t.done,
            t.items,
            t.failed,
            t.pending,
            t.audio_seconds / 60.0,
            cfg.out.join("report.json").display()
        );
        if retagged > 0 {
            let files = if retagged == 1 { "file" } else { "files" };
            eprintln!(
                "retagged {retagged} {files} in place: only the tags changed (no request, audio unchanged)"
            );
        }
    }
    if let Some(hearing) = &w.hearing
        && !misheard.is_empty()
    {
        tracing::warn!(
            "{}; see `wer` in {}",
            hear::mismatch_line(&misheard, hearing.max_wer),
            cfg.out.join("report.json").display()
        );
    }
    if t.warnings > 0 {
        let items = if t.warnings == 1 {
            "item has"
        } else {
            "items have"
        };
        tracing::warn!(
            "{} {items} audio warnings: audio far shorter or longer than its text takes, kept after asking twice; see `warnings` in {}",
            t.warnings,
            cfg.out.join("report.json").display()
        );
    }
    Ok(outcome)
}
