//! Progress of a run: a bar on a terminal, a plain line every few seconds elsewhere (cron, CI,
//! a pipe), nothing with `-q`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::run::workers::Pool;

/// How often the plain line is printed off a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Shows progress until `done` is cancelled, against the items this run has to write (a total
/// that grows while the manifest is synced).
pub fn spawn(pool: Arc<Pool>, quiet: bool, done: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let started = Instant::now();
        let line = |pool: &Pool| {
            let s = &pool.stats;
            format!(
                "{} written, {} failed, {} requests ({} retries), {} in flight",
                s.items_done.load(Ordering::Relaxed),
                s.items_failed.load(Ordering::Relaxed),
                s.requests.load(Ordering::Relaxed),
                s.retries.load(Ordering::Relaxed),
                s.in_flight.load(Ordering::Relaxed),
            )
        };
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} items  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            loop {
                let s = &pool.stats;
                bar.set_length(s.to_write.load(Ordering::Relaxed));
                bar.set_position(
                    s.items_done.load(Ordering::Relaxed) + s.items_failed.load(Ordering::Relaxed),
                );
                bar.set_message(line(&pool));
                tokio::select! {
                    _ = done.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            bar.finish_and_clear();
        } else {
            loop {
                tokio::select! {
                    _ = done.cancelled() => break,
                    _ = tokio::time::sleep(PLAIN_EVERY) => {}
                }
                let s = &pool.stats;
                let finished =
                    s.items_done.load(Ordering::Relaxed) + s.items_failed.load(Ordering::Relaxed);
                eprintln!(
                    "progress: {finished}/{} items after {}s: {}",
                    s.to_write.load(Ordering::Relaxed),
                    started.elapsed().as_secs(),
                    line(&pool)
                );
            }
        }
    })
}
