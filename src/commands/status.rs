//! `status`: counts, progress and recent errors of a queue, read-only; as text, or with
//! `--json` as one JSON object whose field names are stable (the README lists them).

use std::io::Write;

use serde::Serialize;

use crate::cli::StatusArgs;
use crate::config::queue_location;
use crate::domain::ItemState;
use crate::error::{Error, Outcome};
use crate::{queue, report};

/// How many recent errors `status` shows.
const RECENT_ERRORS: usize = 5;

/// What `status` shows, in the shape `--json` prints.
#[derive(Debug, Serialize)]
struct Status {
    /// The queue's path.
    queue: String,
    /// The last run, if any.
    last_run: Option<LastRun>,
    items: ItemCounts,
    pieces: PieceCounts,
    progress: Progress,
    /// Items with an error, most recent first: failed ones, and pending ones whose piece
    /// failed an attempt.
    recent_errors: Vec<RecentError>,
}

#[derive(Debug, Serialize)]
struct LastRun {
    started_at: String,
    /// None while it runs, or if it was killed.
    finished_at: Option<String>,
    /// How it ended ("done", "finished with N failed items", "stopped ..."), or "running".
    outcome: String,
}

/// Items by state; `total` leaves out the removed ones.
#[derive(Debug, Serialize)]
struct ItemCounts {
    total: u64,
    done: u64,
    failed: u64,
    pending: u64,
    removed: u64,
}

/// Pieces of items still in the manifest, by state.
#[derive(Debug, Serialize)]
struct PieceCounts {
    total: u64,
    done: u64,
    pending: u64,
    in_flight: u64,
    failed: u64,
}

#[derive(Debug, Serialize)]
struct Progress {
    /// Done items over `items.total`, 0 to 100 (100 for an empty queue).
    percent_done: f64,
    /// Requests sent by every run of this queue, and how many of them were retries.
    requests: u64,
    retries: u64,
    /// Audio of the done items.
    audio_seconds: f64,
    /// Speech plus transcription: `null` when some speech model's price is not known.
    estimated_cost_usd: Option<f64>,
    /// Speech: what was billed where the server said, plus the estimate of the other requests.
    speech_cost_usd: Option<f64>,
    /// Transcription (`--verify`), per minute of audio heard (0 for a loopback server).
    transcription_cost_usd: f64,
    /// The spend the server billed in tokens (`null` when none was).
    billed_usd: Option<f64>,
    /// Pieces heard back through a transcription endpoint (SPEC §11).
    verified_pieces: u64,
    /// Their word error rate, word-weighted; null when none was heard.
    wer: Option<f64>,
}

#[derive(Debug, Serialize)]
struct RecentError {
    key: String,
    status: ItemState,
    error: String,
}

/// `status`: counts, progress and recent errors, read-only.
pub(super) fn status(args: &StatusArgs) -> Result<Outcome, Error> {
    let (db, _) = queue_location(&args.queue)?;
    let conn = queue::open_read_only(&db)?;
    let report = report::build(&conn)?;
    let pieces = queue::piece_counts(&conn)?;
    let t = &report.totals;
    let status = Status {
        queue: db.display().to_string(),
        last_run: report.started_at.clone().map(|started_at| LastRun {
            started_at,
            finished_at: report.finished_at.clone(),
            outcome: report.outcome.clone().unwrap_or_default(),
        }),
        items: ItemCounts {
            total: t.items,
            done: t.done,
            failed: t.failed,
            pending: t.pending,
            removed: t.removed,
        },
        pieces: PieceCounts {
            total: pieces.total(),
            done: pieces.done,
            pending: pieces.pending,
            in_flight: pieces.claimed,
            failed: pieces.failed,
        },
        progress: Progress {
            percent_done: if t.items == 0 {
                100.0
            } else {
                (t.done as f64 * 1000.0 / t.items as f64).floor() / 10.0
            },
            requests: t.requests,
            retries: t.retries,
            audio_seconds: t.audio_seconds,
            estimated_cost_usd: t.estimated_cost_usd,
            speech_cost_usd: t.speech_cost_usd,
            transcription_cost_usd: t.transcription_cost_usd,
            billed_usd: t.billed_usd,
            verified_pieces: t.verified_pieces,
            wer: t.wer,
        },
        recent_errors: queue::recent_errors(&conn, RECENT_ERRORS)?
            .into_iter()
            .map(|e| RecentError {
                key: e.key,
                status: e.status,
                error: e.error,
            })
            .collect(),
    };
    let text = if args.json {
        serde_json::to_string_pretty(&status).map_err(|e| Error::Other(e.into()))? + "\n"
    } else {
        render_text(&status)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot print the status: {e}")))?;
    Ok(Outcome::Done)
}

/// The text `status` prints without `--json`.
fn render_text(s: &Status) -> String {
    let mut text = format!("queue: {}\n", s.queue);
    if let Some(run) = &s.last_run {
        let ended = match (&run.finished_at, run.outcome.as_str()) {
            (Some(end), outcome) if !outcome.is_empty() => format!("ended {end}: {outcome}"),
            _ => "still running (or killed)".to_string(),
        };
        text += &format!("last run: started {}, {ended}\n", run.started_at);
    }
    let (i, p, g) = (&s.items, &s.pieces, &s.progress);
    text += &format!(
        "items: {} ({} done, {} failed, {} pending, {} removed): {:.1}% done\n",
        i.total, i.done, i.failed, i.pending, i.removed, g.percent_done
    );
    text += &format!(
        "pieces: {} ({} with audio, {} in flight, {} failed)\n",
        p.total, p.done, p.in_flight, p.failed
    );
    text += &format!(
        "requests: {} ({} retries); audio: {:.1} minutes; estimated cost so far: {}\n",
        g.requests,
        g.retries,
        g.audio_seconds / 60.0,
        g.estimated_cost_usd
            .map_or_else(|| "unknown".to_string(), |c| format!("${c:.2}"))
            + &g.billed_usd
                .map_or_else(String::new, |b| format!(" (${b:.4} billed in tokens)"))
            + &transcription_part(g.transcription_cost_usd, g.verified_pieces)
    );
    if let Some(wer) = g.wer {
        text += &format!(
            "heard back: {} pieces, word error rate {wer:.3}\n",
            g.verified_pieces
        );
    }
    if !s.recent_errors.is_empty() {
        text += "recent errors:\n";
        for e in &s.recent_errors {
            text += &format!("  {} ({}): {}\n", e.key, e.status.as_str(), e.error);
        }
    }
    text
}

/// The words after the spend about what hearing pieces back cost, when any was heard.
fn transcription_part(cost: f64, heard: u64) -> String {
    if heard == 0 && cost == 0.0 {
        return String::new();
    }
    format!(", of which transcription ${cost:.4}")
}
