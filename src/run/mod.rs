//! The `run` command: check the manifest, take the queue's lock, recover what a killed run
//! left, then work the queue with `-j` workers while a blocking task syncs the manifest into
//! it, and write the report at the end.

mod checks;
mod lock;
pub mod pacer;
pub mod progress;
mod quiet;
mod signals;
mod streak;
mod sync;
pub mod voice;
pub mod workers;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::book::tags::RunTags;
use crate::book::{self, BookFormat, BookSettings};
use crate::config::Config;
use crate::domain::{ItemState, ProviderKind, io_reason};
use crate::error::{Error, Outcome, StopReason};
use crate::provider::realtime::Realtime;
use crate::provider::{Provider, SpeechClient};
use crate::queue::{self, QueueHandle};
use crate::settings::Rpm;
use crate::{manifest, plan, report, store};
pub use lock::QueueLock;
use pacer::Pacer;
use workers::Pool;

/// The settings a report (and `plan --json`) shows (never the key). With espeak, the API's
/// settings (base URL, rpm, cpm) are null: they do not apply.
pub(crate) fn settings_json(cfg: &Config) -> serde_json::Value {
    let api = cfg.provider != ProviderKind::Espeak;
    serde_json::json!({
        "provider": cfg.provider,
        "base_url": api.then_some(&cfg.base_url),
        "model": cfg.voice.model,
        "voice": cfg.voice.voice,
        "audio_format": cfg.voice.format,
        "speed": cfg.voice.speed,
        "instructions": cfg.voice.instructions,
        "rpm": match cfg.rpm {
            _ if !api => serde_json::Value::Null,
            Rpm::Fixed(n) => serde_json::json!(n),
            Rpm::Auto => serde_json::json!("auto"),
        },
        "cpm": cfg.cpm.filter(|_| api),
        "concurrency": cfg.concurrency,
        "max_attempts": cfg.max_attempts,
        "timeout_seconds": cfg.timeout.as_secs(),
        "max_chars": cfg.max_chars,
        "pause_ms": cfg.pause_ms,
        "max_cost": cfg.max_cost,
        "db": cfg.db.display().to_string(),
    })
}

/// The warning of a model OpenAI shuts down (SPEC section 10), when this run or plan uses one at
/// api.openai.com: the date, the command that switches, and what switching costs.
pub(crate) fn shutdown_notice(cfg: &Config, characters: usize) -> Option<String> {
    if cfg.provider != ProviderKind::Openai {
        return None;
    }
    plan::prices::shutdown_notice(
        &cfg.voice.model,
        &cfg.base_url,
        &cfg.input,
        characters,
        plan::prices::today(),
    )
}

/// `run`: sync the manifest into the queue, work it, write the report.
pub async fn run(mut cfg: Config, quiet: bool) -> Result<Outcome, Error> {
    signals::ignore_file_size_signal();
    let started = std::time::Instant::now();
    let phase =
        |what: &str| tracing::debug!("{what}: {} ms since start", started.elapsed().as_millis());
    let manifest = manifest::open(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let espeak = voice::load_espeak(&mut cfg, &manifest)?;
    let defaults = Arc::new(cfg.voice.clone());
    let (item_count, characters) =
        plan::check_manifest(&manifest, &defaults).map_err(Error::input)?;
    if let Some(notice) = shutdown_notice(&cfg, characters) {
        tracing::warn!("{notice}");
    }
    if let Some(espeak) = &espeak {
        voice::check_espeak_items(&manifest, &cfg.input, &defaults, espeak)?;
    }
    phase("manifest checked");
    if cfg.book.format == Some(BookFormat::M4b) {
        // The book is made at the end, but a missing ffmpeg is a setup error: say so now,
        // before anything is paid for.
        book::ffmpeg::find().map_err(|e| Error::input(e.to_string()))?;
    }
    let book_meta = Arc::new(
        book::meta::resolve(&cfg.book, &manifest.book_info(), &cfg.input).map_err(Error::input)?,
    );
    let run_tags = Arc::new(RunTags {
        book: Arc::clone(&book_meta),
        total: u32::try_from(item_count).unwrap_or(u32::MAX),
    });
    // The API's key is read before anything is written; espeak-ng needs none and no pacing.
    let (provider, paced): (Arc<dyn Provider>, bool) = match espeak {
        Some(espeak) => (Arc::new(espeak), false),
        None if cfg.provider == ProviderKind::Realtime => {
            let key = cfg.optional_api_key(&crate::config::env)?;
            let realtime = Realtime::new(&cfg.base_url, &cfg.voice.model, key, cfg.timeout)
                .map_err(|e| Error::input(format!("--base-url: {e}")))?;
            (Arc::new(realtime), true)
        }
        None => {
            let key = cfg.optional_api_key(&crate::config::env)?;
            let client = SpeechClient::new(&cfg.base_url, key, cfg.timeout, cfg.concurrency)
                .map_err(|e| Error::input(format!("cannot set up the HTTP client: {e}")))?
                .with_shutdown_advice(plan::prices::switch_advice(&cfg.input, characters));
            (Arc::new(client), true)
        }
    };

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
    phase("queue opened");
    let pieces_dir = cfg.pieces.clone();
    std::fs::create_dir_all(&pieces_dir).map_err(|e| {
        Error::input(format!(
            "{}: cannot create the piece store: {}",
            pieces_dir.display(),
            io_reason(&e)
        ))
    })?;

    let durable = store::GroupSync::start(&[&pieces_dir, &cfg.out]).map_err(|e| {
        Error::input(format!(
            "cannot start syncing files to disk: {}",
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
        &settings_json(&cfg).to_string(),
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
    let stop = CancellationToken::new();
    let pool = Arc::new(
        Pool::new(
            run_id,
            handle,
            provider,
            cfg.out.clone(),
            pieces_dir,
            durable,
            if paced {
                Pacer::new(cfg.rpm, cfg.cpm, &recent, after_crash)
            } else {
                Pacer::unpaced()
            },
            cfg.max_attempts,
            cfg.max_cost,
            Duration::from_millis(cfg.pause_ms),
            stop.clone(),
            run_tags,
        )
        .priced_at(&cfg.base_url),
    );
    if cfg.max_cost.is_some() && plan::cost_usd(&cfg.voice.model, &cfg.base_url, 1).is_none() {
        tracing::warn!(
            "no published price for `{}`: --max-cost counts it at ${} per million characters",
            cfg.voice.model,
            workers::UNPRICED_PER_MILLION_CHARS
        );
    }
    let signals = signals::spawn_signal_handler(Arc::clone(&pool));
    let shown = CancellationToken::new();
    let progress = progress::spawn(Arc::clone(&pool), quiet, shown.clone());
    phase("ready to send");

    // The manifest goes into the queue a chunk at a time while the workers already send what
    // is in: the first request leaves long before a million-line manifest is synced.
    let sync = sync::spawn_sync(Arc::clone(&pool), manifest, &cfg);
    let worked = pool.run(cfg.concurrency).await;
    phase("requests over");
    let synced = sync.await;
    pool.finish().await;
    phase("pieces and items recorded");
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
    // From here on requests have gone out: a failure is a stop (exit 3, resumable), never
    // "nothing was sent" (2) nor "some items failed" (1).
    let conn = writer
        .join()
        .map_err(|_| Error::after_send("the queue's writer thread died"))?;
    let after_send = |e: queue::QueueError| Error::after_send(e);
    queue::release_dead_claims(&conn).map_err(after_send)?;

    let failed = queue::count_items(&conn, ItemState::Failed).map_err(after_send)?;
    let outcome = match (&worked, stop_reason, sync_error) {
        (_, Some(reason), _) => Outcome::Stopped(reason),
        (_, None, Some(e)) => Outcome::Stopped(StopReason::Storage(e)),
        (Err(e), None, None) => Outcome::Stopped(StopReason::Storage(e.to_string())),
        (Ok(()), None, None) if failed > 0 => Outcome::SomeFailed(failed),
        (Ok(()), None, None) => Outcome::Done,
    };
    // The playlist, subtitles and book file, from what is done; not after a signal, which
    // asks the run to end now.
    let outcome = if matches!(outcome, Outcome::Stopped(StopReason::Signal)) {
        outcome
    } else {
        let settings = BookSettings {
            meta: book_meta,
            format: cfg.book.format,
            gap_ms: cfg.book.chapter_gap_ms,
            subtitles: cfg.book.subtitles,
            pause_ms: u32::try_from(cfg.pause_ms).unwrap_or(u32::MAX),
            cache: book::cache_dir(&cfg.db),
        };
        match book::finish(&conn, &cfg.out, &settings) {
            Ok(finished) => {
                if let Some(why) = finished.book_waiting {
                    tracing::warn!("{why}");
                }
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
    queue::end_run(&conn, run_id, &outcome_text).map_err(after_send)?;
    phase("book files written");
    let report = report::build(&conn).map_err(after_send)?;
    report::write_files(&conn, &report, &cfg.out).map_err(|e| {
        Error::after_send(format!(
            "{outcome_text}, but {}: cannot write the report: {e}",
            cfg.out.display()
        ))
    })?;
    phase("report written");
    if quiet {
        quiet::print_failures(&conn, &outcome)?;
    }
    drop(conn);
    drop(lock);
    phase("queue closed");

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
