//! The scores of pieces heard back (SPEC §11): written when a piece is verified, read by
//! `verify` (what is left to hear, what to request again) and by the subtitles (the times);
//! each transcription sent and what it cost (`schema_v6.sql`), for the report's spend.

use rusqlite::{Connection, params};

use super::{QueueError, now_rfc3339};
use crate::domain::AudioFormat;

/// A piece's transcript and its score, as the queue keeps them.
#[derive(Debug, Clone, PartialEq)]
pub struct HeardPiece {
    pub errors: u64,
    pub words: u64,
    pub wer: f64,
    pub transcript: String,
    /// JSON `[[start, end, text], ...]` of the transcript's words (else its segments), in
    /// seconds from the piece's start; `None` when the server gave no times.
    pub timings: Option<String>,
    /// Why the piece was kept although it does not match its text.
    pub warning: Option<String>,
}

/// Records a done piece's score (and its warning, after any the audio check left). A piece
/// that is no longer done (a change of the manifest took it back) is left alone.
pub fn record_heard(conn: &Connection, piece: &str, heard: &HeardPiece) -> Result<(), QueueError> {
    conn.prepare_cached(
        "UPDATE pieces SET wer = ?2, wer_errors = ?3, wer_words = ?4, transcript = ?5, timings = ?6,
                warning = CASE WHEN ?7 IS NULL THEN warning
                               WHEN warning IS NULL THEN ?7
                               ELSE warning || '; ' || ?7 END
         WHERE fingerprint = ?1 AND status = 'done'",
    )?
    .execute(params![
        piece,
        heard.wer,
        heard.errors as i64,
        heard.words as i64,
        heard.transcript,
        heard.timings,
        heard.warning,
    ])?;
    Ok(())
}

/// A done piece to hear back: what it should say and how its audio is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ToHear {
    pub fingerprint: String,
    pub text: String,
    pub format: AudioFormat,
    pub voice: String,
    /// The length of its audio (what its transcription is priced by).
    pub audio_seconds: f64,
}

/// Done pieces of done items not yet heard back, in manifest order.
pub fn unheard_pieces(conn: &Connection) -> Result<Vec<ToHear>, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT p.fingerprint, p.text, p.format, p.voice, coalesce(p.audio_seconds, 0.0) FROM pieces p
         WHERE p.status = 'done' AND p.wer IS NULL AND EXISTS (
             SELECT 1 FROM item_pieces ip JOIN items i ON i.key = ip.item_key
             WHERE ip.piece = p.fingerprint AND i.status = 'done')
         ORDER BY p.ord",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ToHear {
            fingerprint: r.get(0)?,
            text: r.get(1)?,
            format: r.get(2)?,
            voice: r.get(3)?,
            audio_seconds: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Done pieces heard to be over `max_wer`, with the format their audio is stored in.
pub fn pieces_over(
    conn: &Connection,
    max_wer: f64,
) -> Result<Vec<(String, AudioFormat)>, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT fingerprint, format FROM pieces WHERE status = 'done' AND wer > ?1 ORDER BY ord",
    )?;
    let rows = stmt.query_map([max_wer], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sends done pieces back to pending, score and warning cleared, with the done items that
/// hold them, so the next run requests them again and rewrites the items. The caller removes
/// their stored audio first (else the run would adopt it again). Returns the items changed.
pub fn request_again(conn: &Connection, pieces: &[String]) -> Result<usize, QueueError> {
    let tx = conn.unchecked_transaction()?;
    let mut items = 0;
    for piece in pieces {
        tx.prepare_cached(
            "UPDATE pieces SET status = 'pending', attempts = 0, bytes = NULL, audio_seconds = NULL,
                    error = NULL, warning = NULL, wer = NULL, wer_errors = NULL, wer_words = NULL,
                    transcript = NULL, timings = NULL
             WHERE fingerprint = ?1 AND status = 'done'",
        )?
        .execute([piece])?;
        items += tx
            .prepare_cached(
                "UPDATE items SET status = 'pending', updated_at = ?2
                 WHERE status = 'done' AND key IN (SELECT item_key FROM item_pieces WHERE piece = ?1)",
            )?
            .execute(params![piece, now_rfc3339()])?;
    }
    tx.commit()?;
    Ok(items)
}

/// Items (not removed) whose word-weighted error rate over their heard pieces passes
/// `max_wer`, in manifest order, with that rate.
pub fn items_over(conn: &Connection, max_wer: f64) -> Result<Vec<(String, f64)>, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT key, rate FROM (
             SELECT i.key, i.seq,
                    CASE WHEN sum(p.wer_words) > 0 THEN CAST(sum(p.wer_errors) AS REAL) / sum(p.wer_words)
                         WHEN sum(p.wer_errors) > 0 THEN 1.0 ELSE 0.0 END AS rate
             FROM items i JOIN item_pieces ip ON ip.item_key = i.key
             JOIN pieces p ON p.fingerprint = ip.piece
             WHERE i.status != 'removed' AND p.wer IS NOT NULL
             GROUP BY i.key)
         WHERE rate > ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([max_wer], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records one transcription sent for `piece`: the seconds of audio it heard and what it cost
/// (its estimate at the table's price per minute; 0 for a loopback server).
pub fn record_transcription(
    conn: &Connection,
    piece: &str,
    audio_seconds: f64,
    cost_usd: f64,
) -> Result<(), QueueError> {
    conn.prepare_cached(
        "INSERT INTO transcriptions (piece, audio_seconds, cost_usd, sent_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        piece,
        audio_seconds.max(0.0),
        cost_usd.max(0.0),
        now_rfc3339()
    ])?;
    Ok(())
}

/// What every transcription of this queue cost, in US dollars (0 when none was sent).
pub fn transcription_cost(conn: &Connection) -> Result<f64, QueueError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(cost_usd), 0.0) FROM transcriptions",
        [],
        |r| r.get(0),
    )?)
}
