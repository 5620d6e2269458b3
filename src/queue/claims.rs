//! Claims and completions: a worker's writes, each fenced by the run that holds the claim.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{QueueError, now_rfc3339};
use crate::domain::AudioFormat;

/// A piece claimed by a run: what to send.
#[derive(Debug, Clone)]
pub struct Claim {
    pub fingerprint: String,
    pub text: String,
    pub model: String,
    pub voice: String,
    pub format: AudioFormat,
    pub speed: f64,
    pub instructions: Option<String>,
    pub characters: usize,
}

/// Atomically claims up to `limit` pending pieces that a pending item needs, in manifest order.
/// Only items this run has synced count: an item the manifest may have dropped or changed is
/// never paid for before the sync has seen it.
pub fn claim(conn: &Connection, run: i64, limit: usize) -> Result<Vec<Claim>, QueueError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE pieces SET status = 'claimed', claim_run = ?1
         WHERE fingerprint IN (
             SELECT p.fingerprint FROM pieces p
             WHERE p.status = 'pending' AND EXISTS (
                 SELECT 1 FROM item_pieces ip JOIN items i ON i.key = ip.item_key
                 WHERE ip.piece = p.fingerprint AND i.status = 'pending' AND i.seen = ?1)
             ORDER BY p.ord LIMIT ?2)
         RETURNING fingerprint, text, model, voice, format, speed, instructions, characters, ord",
    )?;
    let rows = stmt.query_map(params![run, limit as i64], |r| {
        Ok((
            r.get::<_, i64>(8)?,
            Claim {
                fingerprint: r.get(0)?,
                text: r.get(1)?,
                model: r.get(2)?,
                voice: r.get(3)?,
                format: r.get(4)?,
                speed: r.get(5)?,
                instructions: r.get(6)?,
                characters: r.get::<_, i64>(7)? as usize,
            },
        ))
    })?;
    let mut claims: Vec<(i64, Claim)> = rows.collect::<Result<_, _>>()?;
    claims.sort_by_key(|(ord, _)| *ord);
    Ok(claims.into_iter().map(|(_, c)| c).collect())
}

/// Records that a request for a piece is going out now.
pub fn log_request(
    conn: &Connection,
    run: i64,
    n: i64,
    piece: &str,
    sent_ms: i64,
    characters: usize,
) -> Result<(), QueueError> {
    conn.prepare_cached(
        "INSERT INTO requests (run, n, piece, sent_ms, characters) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![run, n, piece, sent_ms, characters as i64])?;
    conn.prepare_cached("UPDATE pieces SET attempts = attempts + 1 WHERE fingerprint = ?1")?
        .execute([piece])?;
    Ok(())
}

/// Records what the server billed for request `n` of `run`: the dollars at the table's price
/// and the usage it reported.
pub fn log_billed(
    conn: &Connection,
    run: i64,
    n: i64,
    piece: &str,
    usd: f64,
    usage: &crate::plan::prices::Usage,
) -> Result<(), QueueError> {
    let usage = serde_json::to_string(usage).unwrap_or_default();
    conn.prepare_cached(
        "UPDATE requests SET billed_usd = ?3, usage = ?4 WHERE run = ?1 AND n = ?2 AND piece = ?5",
    )?
    .execute(params![run, n, usd, usage, piece])?;
    Ok(())
}

/// Records how a request ended; a failed one also leaves its error on the piece.
pub fn log_outcome(
    conn: &Connection,
    run: i64,
    n: i64,
    piece: &str,
    outcome: Result<(), &str>,
) -> Result<(), QueueError> {
    let text = match outcome {
        Ok(()) => "ok",
        Err(e) => e,
    };
    conn.prepare_cached("UPDATE requests SET outcome = ?3 WHERE run = ?1 AND n = ?2")?
        .execute(params![run, n, text])?;
    if let Err(e) = outcome {
        conn.prepare_cached("UPDATE pieces SET error = ?2 WHERE fingerprint = ?1")?
            .execute(params![piece, e])?;
    }
    Ok(())
}

/// An item whose pieces all have audio, ready to be written.
#[derive(Debug, Clone)]
pub struct ReadyItem {
    pub key: String,
    /// The item's title, for its tags.
    pub title: Option<String>,
    /// Its position in the manifest (from 0), for its track number.
    pub seq: i64,
    pub output: String,
    pub format: AudioFormat,
    pub fingerprint: String,
    /// Piece fingerprints in order.
    pub pieces: Vec<String>,
    /// The measured seconds of each piece, in the same order.
    pub piece_seconds: Vec<f64>,
}

/// Marks a claimed piece done, with the audio check's `warning` if its audio was kept although
/// its length is off. Fenced: only the claim's owner completes it, and exactly one row must
/// change. Returns the items this completion made ready.
pub fn complete_piece(
    conn: &Connection,
    run: i64,
    piece: &str,
    bytes: u64,
    seconds: f64,
    warning: Option<&str>,
) -> Result<Vec<ReadyItem>, QueueError> {
    let changed = conn
        .prepare_cached(
            "UPDATE pieces SET status = 'done', claim_run = NULL, bytes = ?3, audio_seconds = ?4,
                    error = NULL, warning = ?5
             WHERE fingerprint = ?1 AND status = 'claimed' AND claim_run = ?2",
        )?
        .execute(params![piece, run, bytes as i64, seconds, warning])?;
    if changed != 1 {
        return Err(QueueError::ClaimLost(piece.to_string()));
    }
    ready_items(conn, run, piece)
}

/// The items this completion of `piece` made ready: pending items synced by `run` that contain
/// it and whose pieces are now all done (found through the piece's index, so a completion costs
/// the same whatever the queue's size).
pub fn ready_items(conn: &Connection, run: i64, piece: &str) -> Result<Vec<ReadyItem>, QueueError> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.key, i.output, i.format, i.fingerprint FROM item_pieces ip
         JOIN items i ON i.key = ip.item_key
         WHERE ip.piece = ?1 AND i.status = 'pending' AND i.seen = ?2 AND NOT EXISTS (
             SELECT 1 FROM item_pieces ip2 JOIN pieces p ON p.fingerprint = ip2.piece
             WHERE ip2.item_key = i.key AND p.status != 'done')
         GROUP BY i.key ORDER BY i.seq",
    )?;
    let heads: Vec<(String, String, AudioFormat, String)> = stmt
        .query_map(params![piece, run], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    heads.into_iter().map(|h| ready_item(conn, h)).collect()
}

/// The item `key` as a ready item, if it is pending and all its pieces are done.
pub fn ready_items_of(conn: &Connection, key: &str) -> Result<Option<ReadyItem>, QueueError> {
    let head: Option<(String, String, AudioFormat, String)> = conn
        .prepare_cached(
            "SELECT i.key, i.output, i.format, i.fingerprint FROM items i
             WHERE i.key = ?1 AND i.status = 'pending' AND NOT EXISTS (
                 SELECT 1 FROM item_pieces ip JOIN pieces p ON p.fingerprint = ip.piece
                 WHERE ip.item_key = i.key AND p.status != 'done')",
        )?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    head.map(|h| ready_item(conn, h)).transpose()
}

fn ready_item(
    conn: &Connection,
    (key, output, format, fingerprint): (String, String, AudioFormat, String),
) -> Result<ReadyItem, QueueError> {
    let mut pieces = conn.prepare_cached(
        "SELECT ip.piece, coalesce(p.audio_seconds, 0) FROM item_pieces ip
         JOIN pieces p ON p.fingerprint = ip.piece WHERE ip.item_key = ?1 ORDER BY ip.idx",
    )?;
    let list = pieces
        .query_map([&key], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let (pieces, piece_seconds) = list.into_iter().unzip();
    let (title, seq): (Option<String>, i64) = conn
        .prepare_cached("SELECT title, seq FROM items WHERE key = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(ReadyItem {
        key,
        title,
        seq,
        output,
        format,
        fingerprint,
        pieces,
        piece_seconds,
    })
}

/// Marks an item's file written. Only if the item has not changed since it was made ready.
pub fn complete_item(
    conn: &Connection,
    key: &str,
    fingerprint: &str,
    bytes: u64,
    seconds: f64,
) -> Result<bool, QueueError> {
    let changed = conn
        .prepare_cached(
            "UPDATE items SET status = 'done', built_fingerprint = ?2, bytes = ?3, audio_seconds = ?4,
                 error = NULL, updated_at = ?5
             WHERE key = ?1 AND fingerprint = ?2 AND status = 'pending'",
        )?
        .execute(params![key, fingerprint, bytes as i64, seconds, now_rfc3339()])?;
    Ok(changed == 1)
}

/// Fails an item whose file could not be written.
pub fn fail_item(conn: &Connection, key: &str, error: &str) -> Result<(), QueueError> {
    conn.prepare_cached(
        "UPDATE items SET status = 'failed', error = ?2, updated_at = ?3 WHERE key = ?1",
    )?
    .execute(params![key, error, now_rfc3339()])?;
    Ok(())
}

/// Fails a claimed piece for good, and every pending item that needs it. Returns those items.
pub fn fail_piece(
    conn: &Connection,
    run: i64,
    piece: &str,
    error: &str,
) -> Result<usize, QueueError> {
    conn.prepare_cached(
        "UPDATE pieces SET status = 'failed', claim_run = NULL, error = ?3 WHERE fingerprint = ?1 AND claim_run = ?2",
    )?
    .execute(params![piece, run, error])?;
    let n = conn
        .prepare_cached(
            "UPDATE items SET status = 'failed', error = ?2, updated_at = ?3
             WHERE status = 'pending' AND key IN (SELECT item_key FROM item_pieces WHERE piece = ?1)",
        )?
        .execute(params![piece, error, now_rfc3339()])?;
    Ok(n)
}

/// Gives a claim back (shutdown, or a stop of the run).
pub fn release_claim(conn: &Connection, run: i64, piece: &str) -> Result<(), QueueError> {
    conn.prepare_cached("UPDATE pieces SET status = 'pending', claim_run = NULL WHERE fingerprint = ?1 AND claim_run = ?2")?
        .execute(params![piece, run])?;
    Ok(())
}

/// Puts failed items (all, or those with the given keys) and their failed pieces back to
/// pending. Returns how many items changed.
pub fn retry_failed(conn: &mut Connection, keys: &[String]) -> Result<usize, QueueError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let failed: Vec<String> = {
        let mut stmt = tx.prepare("SELECT key FROM items WHERE status = 'failed' ORDER BY seq")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<Vec<String>, _>>()?
            .into_iter()
            .filter(|k| keys.is_empty() || keys.contains(k))
            .collect()
    };
    for key in &failed {
        tx.execute(
            "UPDATE pieces SET status = 'pending', attempts = 0, error = NULL
             WHERE status = 'failed' AND fingerprint IN (SELECT piece FROM item_pieces WHERE item_key = ?1)",
            [key],
        )?;
        tx.execute(
            "UPDATE items SET status = 'pending', error = NULL, updated_at = ?2 WHERE key = ?1",
            params![key, now_rfc3339()],
        )?;
    }
    tx.commit()?;
    Ok(failed.len())
}
