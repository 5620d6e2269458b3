//! Signals during a run: SIGINT/SIGTERM stop it (twice: at once), SIGXFSZ becomes an error.

use std::sync::Weak;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::workers::Pool;
use crate::error::StopReason;
use crate::store;

/// A write past `RLIMIT_FSIZE` raises SIGXFSZ, which kills by default; caught, the write fails
/// with EFBIG instead, and the run stops with a clear message and no partial file.
pub(super) fn ignore_file_size_signal() {
    #[cfg(unix)]
    {
        // SIGXFSZ is 25 on Linux, the BSDs and macOS.
        // Registered here, not in the task: the task may first run after the first write.
        let xfsz = tokio::signal::unix::SignalKind::from_raw(25);
        if let Ok(mut stream) = tokio::signal::unix::signal(xfsz) {
            tokio::spawn(async move { while stream.recv().await.is_some() {} });
        }
    }
}

/// First SIGINT/SIGTERM: fire `interrupted`, which the end of the run (playlist, subtitles,
/// book) watches, and, while the workers run, stop sending and let requests in flight finish.
/// Second: remove our temporary files and exit at once (the queue is consistent at every
/// commit). The handler holds the pool weakly, so it can live until the run ends: the pool is
/// dropped (and the queue's writer thread ends) before the book is made.
pub(super) fn spawn_signal_handler(
    pool: Weak<Pool>,
    interrupted: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    // The handlers are installed now, before the workers send anything: installed inside the
    // task, they would wait for its first poll, and a signal before it (a loaded machine, the
    // first milliseconds of a run) would kill the process with the default action.
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let (Ok(mut int), Ok(mut term)) = streams else {
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
                    interrupted.cancel();
                    match pool.upgrade() {
                        Some(pool) => {
                            let in_flight = pool.stats.in_flight.load(Ordering::Relaxed);
                            tracing::warn!(
                                "stopping: no new requests; waiting for {in_flight} in flight (signal again to quit at once)"
                            );
                            pool.stop_for(StopReason::Signal);
                        }
                        None => tracing::warn!("stopping (signal again to quit at once)"),
                    }
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
                interrupted.cancel();
                if let Some(pool) = pool.upgrade() {
                    pool.stop_for(StopReason::Signal);
                }
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                store::remove_live_temps();
                std::process::exit(3);
            }
        }
    })
}
