//! Syncing a manifest's planned items into the queue (SPEC section 3).

use rusqlite::{Connection, OptionalExtension, params};

use super::{QueueError, ReadyItem, now_rfc3339, ready_items_of};
use crate::domain::{AudioFormat, ItemState, PieceState, PlannedItem};

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

/// What the files on disk said about an item just before its sync. Looked at by the caller,
/// outside the writer's transaction, so a slow disk never holds the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// The item's output file exists.
    pub output_exists: bool,
    /// For each piece, in order: its audio is in the piece store.
    pub pieces_stored: Vec<bool>,
}

/// A pending piece whose audio is in the store, saved by a run that died before recording it.
/// The sync claims it for `run` (so no worker sends it meanwhile); the caller checks the audio
/// outside the transaction and records the verdict with [`adopt_pieces`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoptable {
    pub fingerprint: String,
    pub format: AudioFormat,
    /// The pending item that waits for it.
    pub item_key: String,
}

/// What syncing a chunk left to do.
#[derive(Debug, Default)]
pub struct SyncedChunk {
    /// Items whose pieces all have audio, ready to be written.
    pub ready: Vec<ReadyItem>,
    /// Stored audio to check before it counts.
    pub adoptable: Vec<Adoptable>,
}

/// Brings a chunk of the manifest's items into the queue (SPEC section 3): new items are added,
/// changed ones go back to pending with their new pieces, unchanged done ones stay done (if
/// their file is still there); every item is marked seen by `run`, so [`finish_sync`] can mark
/// the rest removed. For the chunk's pending items: a done piece whose stored audio is missing
/// goes back to pending, a pending piece whose audio is in the store is returned to be checked,
/// and an item that needs a failed piece fails with it. `facts` has one entry per item.
/// Idempotent; each item costs a few indexed lookups, whatever the queue's size.
pub fn sync_chunk(
    conn: &Connection,
    run: i64,
    items: &[PlannedItem],
    facts: &[FileFacts],
    summary: &mut SyncSummary,
) -> Result<SyncedChunk, QueueError> {
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
    let mut unstore_piece = conn.prepare_cached(
        "UPDATE pieces SET status = 'pending', bytes = NULL, audio_seconds = NULL WHERE fingerprint = ?1",
    )?;
    let mut fail_item =
        conn.prepare_cached("UPDATE items SET status = 'failed', error = ?2 WHERE key = ?1")?;
    let mut claim_stored = conn.prepare_cached(
        "UPDATE pieces SET status = 'claimed', claim_run = ?2 WHERE fingerprint = ?1 AND status = 'pending'",
    )?;
    let mut chunk = SyncedChunk::default();
    for (item, facts) in items.iter().zip(facts) {
        let previous: Option<(String, String, ItemState, Option<String>)> = existing
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
                ItemState::Pending
            }
            Some(_) if !same => {
                summary.changed += 1;
                ItemState::Pending
            }
            Some((_, _, status, built)) => match status {
                ItemState::Failed => {
                    summary.unchanged += 1;
                    ItemState::Failed
                }
                ItemState::Done | ItemState::Removed
                    if built.as_deref() == Some(item.fingerprint.as_str()) =>
                {
                    if facts.output_exists {
                        summary.unchanged += 1;
                        ItemState::Done
                    } else {
                        summary.rebuild += 1;
                        ItemState::Pending
                    }
                }
                _ => {
                    summary.unchanged += 1;
                    ItemState::Pending
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
                    item.settings.format,
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
            item.settings.format,
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
        if status != ItemState::Pending {
            continue;
        }
        summary.pending += 1;
        // Where does each piece stand, and is its audio really there?
        let mut all_done = true;
        let mut waits_for_adoption = false;
        for (piece, &stored) in item.pieces.iter().zip(&facts.pieces_stored) {
            let (state, error): (PieceState, Option<String>) =
                piece_state.query_row([&piece.fingerprint], |r| Ok((r.get(0)?, r.get(1)?)))?;
            match state {
                PieceState::Done if !stored => {
                    unstore_piece.execute([&piece.fingerprint])?;
                    all_done = false;
                }
                PieceState::Pending if stored => {
                    claim_stored.execute(params![piece.fingerprint, run])?;
                    chunk.adoptable.push(Adoptable {
                        fingerprint: piece.fingerprint.clone(),
                        format: item.settings.format,
                        item_key: item.key.clone(),
                    });
                    waits_for_adoption = true;
                }
                // Claimed by this sync, for an earlier item of the chunk: wait with it.
                PieceState::Claimed
                    if chunk
                        .adoptable
                        .iter()
                        .any(|a| a.fingerprint == piece.fingerprint) =>
                {
                    chunk.adoptable.push(Adoptable {
                        fingerprint: piece.fingerprint.clone(),
                        format: item.settings.format,
                        item_key: item.key.clone(),
                    });
                    waits_for_adoption = true;
                }
                PieceState::Failed => {
                    fail_item.execute(params![
                        item.key,
                        error.unwrap_or_else(|| "a piece failed".into())
                    ])?;
                    summary.pending -= 1;
                    all_done = false;
                    break;
                }
                PieceState::Done => {}
                PieceState::Pending | PieceState::Claimed => all_done = false,
            }
        }
        if all_done && !waits_for_adoption {
            chunk.ready.extend(ready_items_of(conn, &item.key)?);
        }
    }
    Ok(chunk)
}

/// Stored audio that passed its check: (fingerprint, bytes, seconds).
pub type Adopted = (String, u64, f64);

/// Records the check of stored audio that [`sync_chunk`] claimed for `run`: whole audio is
/// done, damaged audio goes back to pending (to be requested). Returns the items among
/// `waiting` that it made ready, and counts the adopted pieces into `summary`.
pub fn adopt_pieces(
    conn: &Connection,
    run: i64,
    adopted: &[Adopted],
    damaged: &[String],
    waiting: &[String],
    summary: &mut SyncSummary,
) -> Result<Vec<ReadyItem>, QueueError> {
    let mut set_done = conn.prepare_cached(
        "UPDATE pieces SET status = 'done', claim_run = NULL, bytes = ?2, audio_seconds = ?3
         WHERE fingerprint = ?1 AND status = 'claimed' AND claim_run = ?4",
    )?;
    for (fingerprint, bytes, seconds) in adopted {
        summary.adopted += set_done.execute(params![fingerprint, *bytes as i64, seconds, run])?;
    }
    for fingerprint in damaged {
        super::release_claim(conn, run, fingerprint)?;
    }
    let mut ready = Vec::new();
    for key in waiting {
        ready.extend(ready_items_of(conn, key)?);
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
