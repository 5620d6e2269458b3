//! `status`: counts, progress and recent errors of a queue, read-only.

use crate::cli::QueueArgs;
use crate::config::queue_location;
use crate::error::{Error, Outcome};
use crate::{queue, report};

/// `status`: counts, progress and recent errors, read-only.
pub(super) fn status(args: &QueueArgs) -> Result<Outcome, Error> {
    let (db, _) = queue_location(args)?;
    let conn = queue::open_read_only(&db)?;
    let report = report::build(&conn)?;
    let pieces = queue::piece_counts(&conn)?;
    let t = &report.totals;
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
        "pieces: {} ({} with audio, {} in flight, {} failed)",
        pieces.total(),
        pieces.done,
        pieces.claimed,
        pieces.failed
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
        for e in errors {
            println!("  {} ({}): {}", e.key, e.status, e.error);
        }
    }
    Ok(Outcome::Done)
}
