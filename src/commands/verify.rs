//! `verify`: hear the done items of an existing queue back and score them (SPEC §11), without
//! speaking anything again; with `--fix`, request again the pieces over `--max-wer` and run the
//! queue, which rewrites their items and hears the new audio.

use tokio_util::sync::CancellationToken;

use crate::cli::VerifyArgs;
use crate::config::{Config, env};
use crate::error::{Error, Outcome};
use crate::run::QueueLock;
use crate::run::hear::{self, Hearing};
use crate::{queue, report};

/// `verify INPUT [--fix]`.
pub(super) async fn verify(args: &VerifyArgs, quiet: bool) -> Result<Outcome, Error> {
    let mut cfg = Config::from_args(&args.job, &env)?;
    cfg.verify.enabled = true;
    let Some(hearing) = Hearing::from_config(&cfg)? else {
        return Err(Error::input("--verify is off"));
    };
    if !cfg.db.is_file() {
        return Err(queue::QueueError::Missing(cfg.db.clone()).into());
    }
    let lock = QueueLock::acquire(&cfg.db)?;
    let conn = queue::open(&cfg.db)?;
    let stop = CancellationToken::new();
    let heard = hear::hear_done(&conn, &hearing, &cfg.pieces, cfg.concurrency, &stop).await?;
    let after_send = |e: queue::QueueError| Error::after_send(e);
    let over = queue::pieces_over(&conn, hearing.max_wer).map_err(after_send)?;
    if args.fix && !over.is_empty() {
        for (fingerprint, format) in &over {
            let path = crate::store::piece_path(&cfg.pieces, fingerprint, *format);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(Error::after_send(format!("{}: {e}", path.display())));
            }
        }
        let fingerprints: Vec<String> = over.into_iter().map(|(f, _)| f).collect();
        let items = queue::request_again(&conn, &fingerprints).map_err(after_send)?;
        if !quiet {
            eprintln!(
                "heard {heard} pieces; requesting {} pieces of {items} items again",
                fingerprints.len()
            );
        }
        drop(conn);
        drop(lock);
        return crate::run::run(cfg, quiet).await;
    }
    let head = report::build(&conn).map_err(after_send)?;
    report::write_files(&conn, &head, &cfg.out).map_err(|e| {
        Error::after_send(format!(
            "{}: cannot write the report: {e}",
            cfg.out.display()
        ))
    })?;
    let misheard = queue::items_over(&conn, hearing.max_wer).map_err(after_send)?;
    drop(conn);
    drop(lock);
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
