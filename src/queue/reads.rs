//! Reads for `plan`, `status`, the report and the pacer, each returning the queue's own row
//! types.

use std::collections::HashSet;

use rusqlite::Connection;

use super::QueueError;
use crate::domain::{ItemState, PieceState};

/// Requests sent in the last `window_ms` before `now_ms`, oldest first: (sent_ms, characters).
/// A new run starts its rate limiter from these, so a resume does not burst.
pub fn recent_requests(
    conn: &Connection,
    now_ms: i64,
    window_ms: i64,
) -> Result<Vec<(i64, usize)>, QueueError> {
    let mut stmt = conn
        .prepare("SELECT sent_ms, characters FROM requests WHERE sent_ms > ?1 ORDER BY sent_ms")?;
    let rows = stmt.query_map([now_ms - window_ms], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as usize))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many items have `status`.
pub fn count_items(conn: &Connection, status: ItemState) -> Result<usize, QueueError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM items WHERE status = ?1",
        [status],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

/// Keys of every item, to tell a user which `--key` values exist.
pub fn item_keys(conn: &Connection) -> Result<HashSet<String>, QueueError> {
    let mut stmt = conn.prepare("SELECT key FROM items")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Fingerprints of pieces that already have audio (for `plan`).
pub fn done_pieces(conn: &Connection) -> Result<HashSet<String>, QueueError> {
    let mut stmt = conn.prepare("SELECT fingerprint FROM pieces WHERE status = 'done'")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What the requests of a queue were billed: the dollars and the tokens summed, where the
/// server said; `None` when no request was billed in tokens.
pub fn billed(conn: &Connection) -> Result<Option<(f64, crate::plan::prices::Usage)>, QueueError> {
    let mut stmt =
        conn.prepare("SELECT billed_usd, usage FROM requests WHERE billed_usd IS NOT NULL")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, f64>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut total: Option<(f64, crate::plan::prices::Usage)> = None;
    for row in rows {
        let (usd, usage) = row?;
        let usage = usage
            .and_then(|u| serde_json::from_str(&u).ok())
            .unwrap_or_default();
        let (sum, tokens) = total.get_or_insert((0.0, Default::default()));
        *sum += usd;
        *tokens = tokens.plus(usage);
    }
    Ok(total)
}

/// Totals over the whole queue.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct Totals {
    pub items: u64,
    pub done: u64,
    pub failed: u64,
    pub pending: u64,
    pub removed: u64,
    pub characters: u64,
    pub requests: u64,
    pub retries: u64,
    pub bytes: u64,
    pub audio_seconds: f64,
    /// The spend: `speech_cost_usd` plus `transcription_cost_usd` (`None`: some speech
    /// model's price is not known).
    pub estimated_cost_usd: Option<f64>,
    /// Speech: what the server billed where it said so, plus the estimate of every other
    /// request at its piece's model's price (`None`: some model's price is not known).
    pub speech_cost_usd: Option<f64>,
    /// Transcription (`--verify`): every transcription answered, at its model's price per
    /// minute of audio when it was sent (0 for a loopback server).
    pub transcription_cost_usd: f64,
    /// The spend the server billed (the Realtime API's `usage` at the table's prices); `None`
    /// when no request was billed in tokens.
    pub billed_usd: Option<f64>,
    /// The tokens billed, summed over every request.
    pub billed_tokens: Option<crate::plan::prices::Usage>,
    /// Items with audio-check or transcript warnings (sections 9 and 11 of the contract).
    pub warnings: u64,
    /// The word error rate over every heard piece, word-weighted; `None` when none was heard.
    pub wer: Option<f64>,
    /// Pieces heard back through the transcription endpoint.
    pub verified_pieces: u64,
}

/// An item as the report shows it: one row of `items` with its pieces' counts.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct ItemRow {
    pub key: String,
    pub title: Option<String>,
    pub status: ItemState,
    pub output: String,
    pub characters: u64,
    pub chunks: u64,
    pub attempts: u64,
    pub bytes: Option<u64>,
    pub audio_seconds: Option<f64>,
    pub error: Option<String>,
    /// Why some of its audio may be cut short or too long, piece by piece.
    pub warnings: Vec<String>,
    /// Its word error rate over its heard pieces, word-weighted; `None` when none was heard.
    pub wer: Option<f64>,
    /// Its pieces heard back.
    pub verified_pieces: u64,
}

/// Streams every item to `f`, in manifest order (removed ones last), in one pass over the
/// items with their pieces joined.
pub fn each_item_row(conn: &Connection, mut f: impl FnMut(ItemRow)) -> Result<(), QueueError> {
    let mut stmt = conn.prepare(
        "SELECT i.key, i.title, i.status, i.output, i.characters,
                count(ip.piece), coalesce(sum(p.attempts), 0), i.bytes, i.audio_seconds,
                coalesce(i.error, CASE WHEN i.status = 'pending' THEN max(p.error) END),
                json_group_array(json_array(ip.idx, p.warning)) FILTER (WHERE p.warning IS NOT NULL),
                sum(p.wer_errors), sum(p.wer_words), count(p.wer)
         FROM items i
         LEFT JOIN item_pieces ip ON ip.item_key = i.key
         LEFT JOIN pieces p ON p.fingerprint = ip.piece
         GROUP BY i.key
         ORDER BY i.status = 'removed', i.seq, i.key",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let status: ItemState = r.get(2)?;
        f(ItemRow {
            key: r.get(0)?,
            title: r.get(1)?,
            output: r.get(3)?,
            characters: r.get::<_, i64>(4)? as u64,
            chunks: r.get::<_, i64>(5)? as u64,
            attempts: r.get::<_, i64>(6)? as u64,
            bytes: r.get::<_, Option<i64>>(7)?.map(|b| b as u64),
            audio_seconds: r.get(8)?,
            error: if status == ItemState::Done {
                None
            } else {
                r.get(9)?
            },
            warnings: warnings(
                &r.get::<_, Option<String>>(10)?.unwrap_or_default(),
                r.get::<_, i64>(5)? > 1,
            ),
            wer: word_weighted(r.get(11)?, r.get(12)?),
            verified_pieces: r.get::<_, i64>(13)?.max(0) as u64,
            status,
        });
    }
    Ok(())
}

/// The rate of summed errors over summed words, rounded to four places, as
/// [`crate::verify::Score`] defines it; `None` when nothing was heard.
fn word_weighted(errors: Option<i64>, words: Option<i64>) -> Option<f64> {
    let (errors, words) = (errors?.max(0) as usize, words?.max(0) as usize);
    let score = crate::verify::Score::from_counts(errors, words, crate::verify::Unit::Words);
    Some((score.wer * 10_000.0).round() / 10_000.0)
}

/// An item's warnings from the JSON `[[piece index, warning], ...]` the query gathers, in
/// piece order, each named by its piece when the item has `several`.
fn warnings(json: &str, several: bool) -> Vec<String> {
    let mut found: Vec<(u64, String)> = serde_json::from_str(json).unwrap_or_default();
    found.sort();
    found
        .into_iter()
        .map(|(idx, warning)| {
            if several {
                format!("piece {}: {warning}", idx + 1)
            } else {
                warning
            }
        })
        .collect()
}

/// Item counts and sums for the report's totals (requests, retries and cost are the caller's).
pub fn item_totals(conn: &Connection) -> Result<Totals, QueueError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(status != 'removed'), 0), coalesce(sum(status = 'done'), 0),
                coalesce(sum(status = 'failed'), 0), coalesce(sum(status = 'pending'), 0),
                coalesce(sum(status = 'removed'), 0),
                coalesce(sum(CASE WHEN status != 'removed' THEN characters END), 0),
                coalesce(sum(CASE WHEN status = 'done' THEN bytes END), 0),
                coalesce(sum(CASE WHEN status = 'done' THEN audio_seconds END), 0.0),
                (SELECT count(DISTINCT i.key) FROM item_pieces ip JOIN items i ON i.key = ip.item_key
                 JOIN pieces p ON p.fingerprint = ip.piece
                 WHERE p.warning IS NOT NULL AND i.status != 'removed'),
                heard.errors, heard.words, heard.n
         FROM items,
              (SELECT sum(wer_errors) AS errors, sum(wer_words) AS words, count(*) AS n FROM pieces
               WHERE wer IS NOT NULL AND fingerprint IN (
                   SELECT ip.piece FROM item_pieces ip JOIN items i ON i.key = ip.item_key
                   WHERE i.status != 'removed')) AS heard",
        [],
        |r| {
            Ok(Totals {
                items: r.get::<_, i64>(0)? as u64,
                done: r.get::<_, i64>(1)? as u64,
                failed: r.get::<_, i64>(2)? as u64,
                pending: r.get::<_, i64>(3)? as u64,
                removed: r.get::<_, i64>(4)? as u64,
                characters: r.get::<_, i64>(5)? as u64,
                bytes: r.get::<_, i64>(6)? as u64,
                audio_seconds: r.get(7)?,
                warnings: r.get::<_, i64>(8)? as u64,
                wer: word_weighted(r.get(9)?, r.get(10)?),
                verified_pieces: r.get::<_, Option<i64>>(11)?.unwrap_or(0).max(0) as u64,
                ..Default::default()
            })
        },
    )?)
}

/// An item with an error, for `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    pub key: String,
    pub status: ItemState,
    pub error: String,
}

/// Items with an error, most recent first (for `status`).
pub fn recent_errors(conn: &Connection, limit: usize) -> Result<Vec<ErrorRow>, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT i.key, i.status, coalesce(i.error, (SELECT p.error FROM item_pieces ip JOIN pieces p
             ON p.fingerprint = ip.piece WHERE ip.item_key = i.key AND p.error IS NOT NULL LIMIT 1))
         FROM items i
         WHERE i.status = 'failed' OR (i.status = 'pending' AND EXISTS (
             SELECT 1 FROM item_pieces ip JOIN pieces p ON p.fingerprint = ip.piece
             WHERE ip.item_key = i.key AND p.error IS NOT NULL))
         ORDER BY i.updated_at DESC, i.seq DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(ErrorRow {
            key: r.get(0)?,
            status: r.get(1)?,
            error: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Request counts: (all requests, retries = requests beyond the first of each piece).
pub fn request_counts(conn: &Connection, run: Option<i64>) -> Result<(u64, u64, u64), QueueError> {
    let (requests, distinct, chars): (i64, i64, i64) = conn.query_row(
        "SELECT count(*), count(DISTINCT piece), coalesce(sum(characters), 0) FROM requests WHERE ?1 IS NULL OR run = ?1",
        [run],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok((requests as u64, (requests - distinct) as u64, chars as u64))
}

/// Pieces of items still in the manifest, by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceCounts {
    pub pending: u64,
    pub claimed: u64,
    pub done: u64,
    pub failed: u64,
}

impl PieceCounts {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.pending + self.claimed + self.done + self.failed
    }
}

/// Piece counts by state.
pub fn piece_counts(conn: &Connection) -> Result<PieceCounts, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT p.status, count(*) FROM pieces p WHERE EXISTS (
             SELECT 1 FROM item_pieces ip JOIN items i ON i.key = ip.item_key
             WHERE ip.piece = p.fingerprint AND i.status != 'removed') GROUP BY p.status",
    )?;
    let mut counts = PieceCounts::default();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let n = r.get::<_, i64>(1)? as u64;
        match r.get::<_, PieceState>(0)? {
            PieceState::Pending => counts.pending = n,
            PieceState::Claimed => counts.claimed = n,
            PieceState::Done => counts.done = n,
            PieceState::Failed => counts.failed = n,
        }
    }
    Ok(counts)
}

/// Streams (key, error) of every failed item to `f`, in manifest order (for `run -q`).
pub fn each_failed_item(
    conn: &Connection,
    mut f: impl FnMut(&str, &str),
) -> Result<(), QueueError> {
    if crate::domain::fault_injected("queue-failed-items") {
        return Err(QueueError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some("injected fault: queue-failed-items".into()),
        )));
    }
    let mut stmt = conn.prepare(
        "SELECT key, coalesce(error, '') FROM items WHERE status = 'failed' ORDER BY seq, key",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (key, error): (String, String) = (r.get(0)?, r.get(1)?);
        f(&key, &error);
    }
    Ok(())
}

/// The pieces each item was last cut into, for packing its text again keeping them
/// (`plan::chunk::pieces_keeping`): the texts of every item of more than one piece, as the last
/// run before `before_run` (any run, if `None`) that synced it cut it, when that run cut at the
/// same `max_chars` (its pieces would otherwise hold the text to the old size).
pub fn previous_pieces(
    conn: &Connection,
    before_run: Option<i64>,
    max_chars: usize,
) -> Result<std::collections::HashMap<String, Vec<String>>, QueueError> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    let Ok(max_chars) = i64::try_from(max_chars) else {
        return Ok(out);
    };
    let mut stmt = conn.prepare(
        "SELECT ip.item_key, p.text FROM item_pieces ip
         JOIN items i ON i.key = ip.item_key
         JOIN runs r ON r.id = i.seen
         JOIN pieces p ON p.fingerprint = ip.piece
         WHERE r.id < ?1 AND json_extract(r.settings, '$.max_chars') = ?2
           AND i.status != 'removed'
           AND (SELECT COUNT(*) FROM item_pieces n WHERE n.item_key = ip.item_key) > 1
         ORDER BY ip.item_key, ip.idx",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![before_run.unwrap_or(i64::MAX), max_chars],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    )?;
    for row in rows {
        let (key, text) = row?;
        out.entry(key).or_default().push(text);
    }
    Ok(out)
}
