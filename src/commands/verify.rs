//! `verify`: hear the done items of an existing queue back and score them (SPEC §11), without
//! speaking anything again; with `--fix`, request again the pieces over `--max-wer` and run the
//! queue, which rewrites their items and hears the new audio. `verify --db PATH` without INPUT
//! hears the queue alone (its report goes beside it, or to `--out`); `--fix` needs INPUT.

use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::cli::VerifyArgs;
use crate::config::{Config, env};
use crate::domain::LocalError;
use crate::error::{Error, Outcome, StopReason, StorageError};
use crate::queue::QueueLock;
use crate::run::hear::{self, Hearing};
use crate::{queue, report};

/// `verify INPUT [--fix]`.
pub(super) async fn verify(args: &VerifyArgs, quiet: bool) -> Result<Outcome, Error> {
    let queue_only = args.job.input.as_os_str() == crate::cli::QUEUE_ONLY;
    if queue_only && args.fix {
        return Err(Error::input(
            "verify --fix runs the queue again, which needs its manifest: name INPUT (the manifest or job file) as well as --db",
        ));
    }
    let mut cfg = if queue_only {
        Config::for_queue(&args.job, &env)?
    } else {
        Config::from_args(&args.job, &env)?
    };
    cfg.verify.enabled = true;
    if !cfg.db.is_file() {
        return Err(queue::QueueError::Missing(cfg.db.clone()).into());
    }
    let Some(hearing) = Hearing::from_config(&cfg)? else {
        return Err(Error::input("--verify is off"));
    };
    let lock = QueueLock::acquire(&cfg.db)?;
    let conn = queue::open(&cfg.db)?;
    let stop = CancellationToken::new();
    // From the first transcription on, a failure is a stop (exit 3): requests went out.
    match hear_and_fix(args, &cfg, &hearing, conn, lock, &stop, quiet).await {
        Ok(Heard::Scored(heard, head, misheard)) => {
            if !quiet {
                let t = &head.totals;
                let rate = t.wer.map_or("no piece heard".to_string(), |w| {
                    format!("word error rate {w:.3}")
                });
                eprintln!(
                    "heard {heard} pieces now; {} pieces heard in all, {rate}; report: {}",
                    t.verified_pieces,
                    cfg.out.join("report.json").display()
                );
            }
            if !misheard.is_empty() {
                tracing::warn!(
                    "{}; `tts-batch verify --fix` requests their pieces again",
                    hear::mismatch_line(&misheard, hearing.max_wer)
                );
            }
            Ok(Outcome::Done)
        }
        Ok(Heard::ToFix) => crate::run::run(cfg, quiet).await,
        Err(reason) => {
            eprintln!("error: {reason}; run the same command again to resume");
            Ok(Outcome::Stopped(reason))
        }
    }
}

/// What hearing an existing queue came to.
enum Heard {
    /// Scored: pieces heard now, the report's head, the items over the threshold.
    Scored(usize, Box<report::Report>, Vec<(String, f64)>),
    /// Pieces over the threshold were sent back to pending (`--fix`): the queue is to be run.
    ToFix,
}

/// Hears the unheard done pieces, then either writes the report or (with `--fix` and pieces
/// over the threshold) sends those pieces back to pending. The lock is let go before a run.
async fn hear_and_fix(
    args: &VerifyArgs,
    cfg: &Config,
    hearing: &Hearing,
    conn: rusqlite::Connection,
    lock: QueueLock,
    stop: &CancellationToken,
    quiet: bool,
) -> Result<Heard, StopReason> {
    let storage = |e: queue::QueueError| StopReason::Storage(e.into());
    let heard = match hear::hear_done(
        &conn,
        hearing,
        &cfg.pieces,
        cfg.concurrency,
        cfg.max_cost,
        stop,
    )
    .await
    {
        Ok(heard) => heard,
        Err(reason) => {
            // What was heard before the stop is in the queue: the report says so.
            if let Err(e) = report::build(&conn)
                .map_err(report::ReportError::from)
                .and_then(|head| report::write_files(&conn, &head, &cfg.out))
            {
                tracing::warn!("cannot rewrite the report: {e}");
            }
            return Err(reason);
        }
    };
    let over = queue::pieces_over(&conn, hearing.max_wer).map_err(storage)?;
    if args.fix && !over.is_empty() {
        for (fingerprint, format) in &over {
            let path = crate::store::piece_path(&cfg.pieces, fingerprint, *format);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(StopReason::Storage(StorageError::Disk(LocalError::new(
                    format_args!("{}: cannot remove it to request it again", path.display()),
                    e,
                ))));
            }
        }
        let fingerprints: Vec<String> = over.into_iter().map(|(f, _)| f).collect();
        let items = queue::request_again(&conn, &fingerprints).map_err(storage)?;
        if !quiet {
            eprintln!(
                "heard {heard} pieces; requesting {} pieces of {items} items again",
                fingerprints.len()
            );
        }
        drop(conn);
        drop(lock);
        return Ok(Heard::ToFix);
    }
    let head = report::build(&conn).map_err(storage)?;
    report::write_files(&conn, &head, &cfg.out).map_err(|e| {
        StopReason::Storage(StorageError::Report {
            path: cfg.out.clone(),
            source: Arc::new(e),
        })
    })?;
    let misheard = queue::items_over(&conn, hearing.max_wer).map_err(storage)?;
    drop(conn);
    drop(lock);
    Ok(Heard::Scored(heard, Box::new(head), misheard))
}
