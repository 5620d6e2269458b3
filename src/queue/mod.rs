//! The queue: the SQLite file that makes a run resumable. This module is the only one that
//! speaks SQL. During a run exactly one thread owns the connection ([`QueueHandle`]); workers
//! send it closures, which it runs in batches, one transaction per batch, and answers only
//! after the commit, so no worker ever acts on a write that is not durable.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use rusqlite_migration::{M, Migrations};

use crate::domain::AudioFormat;
use crate::plan::PlannedItem;

/// `PRAGMA application_id` of our queues ("TTSB"), so a stranger's database is not taken for one.
const APPLICATION_ID: i64 = 0x5454_5342;

/// The schema's history; index + 1 is the `user_version` it leaves.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(include_str!("schema.sql"))])
}

/// The newest schema version this build knows.
pub fn schema_version() -> i64 {
    1
}

/// A queue that cannot be used or a write that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{}: not a tts-batch queue (not an SQLite database, or another program's)", .0.display())]
    NotAQueue(PathBuf),
    #[error("{}: the queue was written by a newer tts-batch (schema version {found}, this one knows {known}); upgrade tts-batch", path.display())]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{}: no queue here (run `tts-batch run` first)", .0.display())]
    Missing(PathBuf),
    #[error("{}: cannot open the queue: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    #[error("the claim on piece {0} was lost")]
    ClaimLost(String),
    #[error("queue: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the queue's writer has stopped")]
    WriterGone,
    #[error("queue: a commit failed: {0}")]
    Commit(String),
}

/// Opens (creating if needed) and migrates the queue for writing.
pub fn open(path: &Path) -> Result<Connection, QueueError> {
    let mut conn = Connection::open(path).map_err(|e| QueueError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    prepare(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing queue read-only (status, report, plan): nothing is created or migrated.
pub fn open_read_only(path: &Path) -> Result<Connection, QueueError> {
    if !path.is_file() {
        return Err(QueueError::Missing(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| QueueError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let version = identify(&conn, path)?;
    if version == 0 {
        return Err(QueueError::Missing(path.to_path_buf()));
    }
    if version > schema_version() {
        return Err(QueueError::Newer {
            path: path.to_path_buf(),
            found: version,
            known: schema_version(),
        });
    }
    Ok(conn)
}

/// Checks that the file is ours (or empty) and returns its schema version.
fn identify(conn: &Connection, path: &Path) -> Result<i64, QueueError> {
    let not_ours = |_| QueueError::NotAQueue(path.to_path_buf());
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(not_ours)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(not_ours)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(not_ours)?;
    if app != APPLICATION_ID && (tables > 0 || app != 0) {
        return Err(QueueError::NotAQueue(path.to_path_buf()));
    }
    Ok(version)
}

fn prepare(conn: &mut Connection, path: &Path) -> Result<(), QueueError> {
    let version = identify(conn, path)?;
    if version > schema_version() {
        return Err(QueueError::Newer {
            path: path.to_path_buf(),
            found: version,
            known: schema_version(),
        });
    }
    // WAL: readers (status, report) never block the run. synchronous=NORMAL: a commit is
    // atomic and the file never corrupt, but the last commits may roll back on power loss (not
    // on a crash). That loses no audio: piece audio is synced to disk before it is recorded, and
    // a run finds unrecorded audio in the store again; an item whose record rolled back is
    // rebuilt from its pieces. It saves an fsync per commit.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals and sorts in memory: no temporary file per savepoint.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    migrations().to_latest(conn).map_err(|e| match e {
        rusqlite_migration::Error::RusqliteError { err, .. } => QueueError::Sqlite(err),
        other => QueueError::Open {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    Ok(())
}

/// The time now as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------------
// Runs

/// Records the start of a run and returns its id.
pub fn begin_run(
    conn: &Connection,
    input: &str,
    out: &str,
    settings: &str,
) -> Result<i64, QueueError> {
    conn.execute(
        "INSERT INTO runs (pid, started_at, input, out, settings) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![std::process::id(), now_rfc3339(), input, out, settings],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records how a run ended.
pub fn end_run(conn: &Connection, run: i64, outcome: &str) -> Result<(), QueueError> {
    conn.execute(
        "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
        params![run, now_rfc3339(), outcome],
    )?;
    Ok(())
}

/// A run as the report shows it.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Option<String>,
    pub input: String,
    pub out: String,
    pub settings: String,
}

/// The latest run, if any.
pub fn last_run(conn: &Connection) -> Result<Option<RunRow>, QueueError> {
    Ok(conn
        .query_row(
            "SELECT id, started_at, finished_at, outcome, input, out, settings FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    outcome: r.get(3)?,
                    input: r.get(4)?,
                    out: r.get(5)?,
                    settings: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Puts every claimed piece back to pending. Called by the run that holds the queue's lock,
/// so any claim it finds belongs to a run that died.
pub fn release_dead_claims(conn: &Connection) -> Result<usize, QueueError> {
    Ok(conn.execute(
        "UPDATE pieces SET status = 'pending', claim_run = NULL WHERE status = 'claimed'",
        [],
    )?)
}

// ---------------------------------------------------------------------------------------------
// Sync

/// What syncing a manifest changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Done items whose file went missing: rebuilt from stored piece audio.
    pub rebuild: usize,
    pub removed: usize,
    /// Items left to write (pending after the sync).
    pub pending: usize,
    /// Pieces whose audio was found in the store, saved by a run that died before recording it.
    pub adopted: usize,
}

impl SyncSummary {
    /// Adds a chunk's counts.
    pub fn add(&mut self, other: &SyncSummary) {
        self.new += other.new;
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.rebuild += other.rebuild;
        self.removed += other.removed;
        self.pending += other.pending;
        self.adopted += other.adopted;
    }
}

/// Brings a chunk of the manifest's items into the queue (SPEC section 3): new items are added,
/// changed ones go back to pending with their new pieces, unchanged done ones stay done (if
/// their file is still there); every item is marked seen by `run`, so [`finish_sync`] can mark
/// the rest removed. For the chunk's pending items: a done piece whose stored audio is missing
/// goes back to pending, a pending piece whose audio is in the store (saved by a run that died
/// before recording it) is checked and recorded done, and an item that needs a failed
/// piece fails with it. Returns the items whose pieces all have audio, ready to be written.
/// Idempotent; each item costs a few indexed lookups, whatever the queue's size.
pub fn sync_chunk(
    conn: &Connection,
    run: i64,
    items: &[PlannedItem],
    out: &Path,
    pieces_dir: &Path,
    summary: &mut SyncSummary,
) -> Result<Vec<ReadyItem>, QueueError> {
    let now = now_rfc3339();
    let mut existing = conn.prepare_cached(
        "SELECT fingerprint, output, status, built_fingerprint FROM items WHERE key = ?1",
    )?;
    let mut insert_piece = conn.prepare_cached(
        "INSERT INTO pieces (fingerprint, ord, text, model, voice, format, speed, instructions, characters, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')
         ON CONFLICT (fingerprint) DO UPDATE SET ord = excluded.ord",
    )?;
    let mut upsert_item = conn.prepare_cached(
        "INSERT INTO items (key, seq, title, output, format, characters, fingerprint, status, seen, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, title = excluded.title,
             output = excluded.output, format = excluded.format, characters = excluded.characters,
             fingerprint = excluded.fingerprint, status = excluded.status, seen = excluded.seen,
             error = CASE WHEN excluded.status = items.status THEN items.error ELSE NULL END,
             updated_at = CASE WHEN excluded.status = items.status THEN items.updated_at ELSE excluded.updated_at END",
    )?;
    let mut clear_pieces = conn.prepare_cached("DELETE FROM item_pieces WHERE item_key = ?1")?;
    let mut add_piece =
        conn.prepare_cached("INSERT INTO item_pieces (item_key, idx, piece) VALUES (?1, ?2, ?3)")?;
    let mut piece_state =
        conn.prepare_cached("SELECT status, error FROM pieces WHERE fingerprint = ?1")?;
    let mut set_piece = conn.prepare_cached(
        "UPDATE pieces SET status = ?2, bytes = ?3, audio_seconds = ?4 WHERE fingerprint = ?1",
    )?;
    let mut fail_item =
        conn.prepare_cached("UPDATE items SET status = 'failed', error = ?2 WHERE key = ?1")?;
    let mut ready = Vec::new();
    for item in items {
        let previous: Option<(String, String, String, Option<String>)> = existing
            .query_row([&item.key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let same = previous
            .as_ref()
            .is_some_and(|(fp, output, _, _)| *fp == item.fingerprint && *output == item.output);
        let status = match &previous {
            None => {
                summary.new += 1;
                "pending"
            }
            Some(_) if !same => {
                summary.changed += 1;
                "pending"
            }
            Some((_, _, status, built)) => match status.as_str() {
                "failed" => {
                    summary.unchanged += 1;
                    "failed"
                }
                "done" | "removed" if built.as_deref() == Some(item.fingerprint.as_str()) => {
                    if out.join(&item.output).is_file() {
                        summary.unchanged += 1;
                        "done"
                    } else {
                        summary.rebuild += 1;
                        "pending"
                    }
                }
                _ => {
                    summary.unchanged += 1;
                    "pending"
                }
            },
        };
        if !same {
            for (idx, piece) in item.pieces.iter().enumerate() {
                insert_piece.execute(params![
                    piece.fingerprint,
                    item.seq as i64 * 10_000 + idx as i64,
                    piece.text,
                    item.settings.model,
                    item.settings.voice,
                    item.settings.format.as_str(),
                    item.settings.speed,
                    item.settings.sent_instructions(),
                    piece.characters as i64,
                ])?;
            }
        }
        upsert_item.execute(params![
            item.key,
            item.seq as i64,
            item.title,
            item.output,
            item.settings.format.as_str(),
            item.characters as i64,
            item.fingerprint,
            status,
            run,
            now,
        ])?;
        if !same {
            clear_pieces.execute([&item.key])?;
            for (idx, piece) in item.pieces.iter().enumerate() {
                add_piece.execute(params![item.key, idx as i64, piece.fingerprint])?;
            }
        }
        if status != "pending" {
            continue;
        }
        summary.pending += 1;
        // Where does each piece stand, and is its audio really there?
        let mut all_done = true;
        for piece in &item.pieces {
            let (state, error): (String, Option<String>) =
                piece_state.query_row([&piece.fingerprint], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let path = piece_path(pieces_dir, &piece.fingerprint, item.settings.format);
            let state = match state.as_str() {
                "done" if !path.is_file() => {
                    set_piece.execute(params![
                        piece.fingerprint,
                        "pending",
                        None::<i64>,
                        None::<f64>
                    ])?;
                    "pending"
                }
                "pending" if path.is_file() => {
                    match crate::audio::validate(item.settings.format, &path) {
                        Ok(secs) => {
                            let bytes = std::fs::metadata(&path)
                                .map(|m| m.len() as i64)
                                .unwrap_or(0);
                            set_piece.execute(params![piece.fingerprint, "done", bytes, secs])?;
                            summary.adopted += 1;
                            "done"
                        }
                        Err(e) => {
                            tracing::warn!(
                                "{}: stored audio is damaged, requesting it again: {e}",
                                path.display()
                            );
                            let _ = std::fs::remove_file(&path);
                            "pending"
                        }
                    }
                }
                "failed" => {
                    fail_item.execute(params![
                        item.key,
                        error.unwrap_or_else(|| "a piece failed".into())
                    ])?;
                    summary.pending -= 1;
                    all_done = false;
                    break;
                }
                other => other,
            };
            if state != "done" {
                all_done = false;
            }
        }
        if all_done {
            ready.extend(ready_items_of(conn, &item.key)?);
        }
    }
    Ok(ready)
}

/// Ends a sync that saw the whole manifest: items `run` did not see left it, and are marked
/// `removed` (their files are left alone). Returns how many.
pub fn finish_sync(conn: &Connection, run: i64) -> Result<usize, QueueError> {
    Ok(conn.execute(
        "UPDATE items SET status = 'removed', updated_at = ?2 WHERE status != 'removed' AND seen IS NOT ?1",
        params![run, now_rfc3339()],
    )?)
}

/// Where the audio of a piece is kept.
pub fn piece_path(pieces_dir: &Path, fingerprint: &str, format: AudioFormat) -> PathBuf {
    pieces_dir.join(format!("{fingerprint}.{}", format.extension()))
}

// ---------------------------------------------------------------------------------------------
// Claims and completions

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
    pub attempts: u32,
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
         RETURNING fingerprint, text, model, voice, format, speed, instructions, characters, attempts, ord",
    )?;
    let rows = stmt.query_map(params![run, limit as i64], |r| {
        let format: String = r.get(4)?;
        Ok((
            r.get::<_, i64>(9)?,
            Claim {
                fingerprint: r.get(0)?,
                text: r.get(1)?,
                model: r.get(2)?,
                voice: r.get(3)?,
                format: format.parse().unwrap_or(AudioFormat::Mp3),
                speed: r.get(5)?,
                instructions: r.get(6)?,
                characters: r.get::<_, i64>(7)? as usize,
                attempts: r.get::<_, i64>(8)? as u32,
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
    pub output: String,
    pub format: AudioFormat,
    pub fingerprint: String,
    /// Piece fingerprints in order.
    pub pieces: Vec<String>,
    /// The measured seconds of each piece, in the same order.
    pub piece_seconds: Vec<f64>,
}

/// Marks a claimed piece done. Fenced: only the claim's owner completes it, and exactly one row
/// must change. Returns the items this completion made ready.
pub fn complete_piece(
    conn: &Connection,
    run: i64,
    piece: &str,
    bytes: u64,
    seconds: f64,
) -> Result<Vec<ReadyItem>, QueueError> {
    let changed = conn
        .prepare_cached(
            "UPDATE pieces SET status = 'done', claim_run = NULL, bytes = ?3, audio_seconds = ?4, error = NULL
             WHERE fingerprint = ?1 AND status = 'claimed' AND claim_run = ?2",
        )?
        .execute(params![piece, run, bytes as i64, seconds])?;
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
    let heads: Vec<(String, String, String, String)> = stmt
        .query_map(params![piece, run], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    heads.into_iter().map(|h| ready_item(conn, h)).collect()
}

/// The item `key` as a ready item, if it is pending and all its pieces are done.
pub fn ready_items_of(conn: &Connection, key: &str) -> Result<Option<ReadyItem>, QueueError> {
    let head: Option<(String, String, String, String)> = conn
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
    (key, output, format, fingerprint): (String, String, String, String),
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
    Ok(ReadyItem {
        key,
        output,
        format: format.parse().unwrap_or(AudioFormat::Mp3),
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

/// How many items have `status`.
pub fn count_items(conn: &Connection, status: &str) -> Result<usize, QueueError> {
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

// ---------------------------------------------------------------------------------------------
// Reading for the report and status

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
    pub estimated_cost_usd: f64,
}

/// One item of the report.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct ReportItem {
    pub key: String,
    pub title: Option<String>,
    pub status: String,
    pub output: String,
    pub characters: u64,
    pub chunks: u64,
    pub attempts: u64,
    pub bytes: Option<u64>,
    pub audio_seconds: Option<f64>,
    pub error: Option<String>,
}

/// Streams every item to `f`, in manifest order (removed ones last), in one pass over the
/// items with their pieces joined.
pub fn each_item_row(conn: &Connection, mut f: impl FnMut(ReportItem)) -> Result<(), QueueError> {
    let mut stmt = conn.prepare(
        "SELECT i.key, i.title, i.status, i.output, i.characters,
                count(ip.piece), coalesce(sum(p.attempts), 0), i.bytes, i.audio_seconds,
                coalesce(i.error, CASE WHEN i.status = 'pending' THEN max(p.error) END)
         FROM items i
         LEFT JOIN item_pieces ip ON ip.item_key = i.key
         LEFT JOIN pieces p ON p.fingerprint = ip.piece
         GROUP BY i.key
         ORDER BY i.status = 'removed', i.seq, i.key",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let status: String = r.get(2)?;
        f(ReportItem {
            key: r.get(0)?,
            title: r.get(1)?,
            output: r.get(3)?,
            characters: r.get::<_, i64>(4)? as u64,
            chunks: r.get::<_, i64>(5)? as u64,
            attempts: r.get::<_, i64>(6)? as u64,
            bytes: r.get::<_, Option<i64>>(7)?.map(|b| b as u64),
            audio_seconds: r.get(8)?,
            error: if status == "done" { None } else { r.get(9)? },
            status,
        });
    }
    Ok(())
}

/// Item counts and sums for the report's totals (requests, retries and cost are the caller's).
pub fn item_totals(conn: &Connection) -> Result<Totals, QueueError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(status != 'removed'), 0), coalesce(sum(status = 'done'), 0),
                coalesce(sum(status = 'failed'), 0), coalesce(sum(status = 'pending'), 0),
                coalesce(sum(status = 'removed'), 0),
                coalesce(sum(CASE WHEN status != 'removed' THEN characters END), 0),
                coalesce(sum(CASE WHEN status = 'done' THEN bytes END), 0),
                coalesce(sum(CASE WHEN status = 'done' THEN audio_seconds END), 0.0)
         FROM items",
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
                ..Default::default()
            })
        },
    )?)
}

/// Items with an error, most recent first (for `status`).
pub fn recent_errors(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<(String, String, String)>, QueueError> {
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
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        ))
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

/// Piece counts by status.
pub fn piece_counts(conn: &Connection) -> Result<HashMap<String, u64>, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT p.status, count(*) FROM pieces p WHERE EXISTS (
             SELECT 1 FROM item_pieces ip JOIN items i ON i.key = ip.item_key
             WHERE ip.piece = p.fingerprint AND i.status != 'removed') GROUP BY p.status",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------------
// The writer thread

type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&mut Transaction<'_>) -> Reply + Send>;

/// The handle workers use to reach the one thread that owns the connection.
#[derive(Clone)]
pub struct QueueHandle {
    jobs: mpsc::Sender<Job>,
}

impl QueueHandle {
    /// Moves `conn` to a new thread that runs jobs in batches until every handle is dropped;
    /// joining the thread gives the connection back.
    pub fn spawn(mut conn: Connection) -> std::io::Result<(QueueHandle, JoinHandle<Connection>)> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    // Batch whatever else is waiting: one commit (one fsync) for many writes.
                    while batch.len() < 512 {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    run_batch(&mut conn, batch);
                }
                conn
            })?;
        Ok((QueueHandle { jobs: tx }, thread))
    }

    /// Runs `f` on the writer thread inside the batch's transaction (under a savepoint, so an
    /// error undoes only `f`'s writes) and returns its result once the batch is committed.
    pub async fn call<R, F>(&self, f: F) -> Result<R, QueueError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, QueueError> + Send + 'static,
    {
        self.submit(f)?.await.map_err(|_| QueueError::WriterGone)?
    }

    /// [`QueueHandle::call`] from a blocking thread (not from async code).
    pub fn call_blocking<R, F>(&self, f: F) -> Result<R, QueueError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, QueueError> + Send + 'static,
    {
        self.submit(f)?
            .blocking_recv()
            .map_err(|_| QueueError::WriterGone)?
    }

    /// Queues `f` for the writer thread; the receiver gets its result after the batch's commit.
    fn submit<R, F>(
        &self,
        f: F,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<R, QueueError>>, QueueError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, QueueError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |tx: &mut Transaction<'_>| {
            let result = in_savepoint(tx, f);
            Box::new(move |commit: Result<(), String>| {
                let _ = reply_tx.send(commit.map_err(QueueError::Commit).and(result));
            })
        });
        self.jobs.send(job).map_err(|_| QueueError::WriterGone)?;
        Ok(reply_rx)
    }

    /// Runs `f` on the writer thread without waiting for it (request logs); errors are logged.
    pub fn send<F>(&self, f: F)
    where
        F: FnOnce(&Connection) -> Result<(), QueueError> + Send + 'static,
    {
        let job: Job = Box::new(move |tx: &mut Transaction<'_>| {
            if let Err(e) = in_savepoint(tx, f) {
                tracing::warn!("queue write failed: {e}");
            }
            Box::new(|_| {})
        });
        let _ = self.jobs.send(job);
    }
}

fn in_savepoint<R>(
    tx: &mut Transaction<'_>,
    f: impl FnOnce(&Connection) -> Result<R, QueueError>,
) -> Result<R, QueueError> {
    let sp = tx.savepoint()?;
    let result = f(&sp);
    if result.is_ok() {
        sp.commit()?;
    }
    // Dropping an uncommitted savepoint rolls it back.
    result
}

fn run_batch(conn: &mut Connection, batch: Vec<Job>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for job in batch {
                // Nothing ran; tell every caller the write did not happen. The job is dropped
                // unrun, which drops its reply sender: callers see WriterGone-like errors.
                drop(job);
            }
            tracing::error!("queue: cannot begin a transaction: {msg}");
            return;
        }
    };
    let mut tx = tx;
    let replies: Vec<Reply> = batch.into_iter().map(|job| job(&mut tx)).collect();
    let commit = tx.commit().map_err(|e| e.to_string());
    if let Err(e) = &commit {
        tracing::error!("queue: commit failed: {e}");
    }
    for reply in replies {
        reply(commit.clone());
    }
}
