//! The sync task: the manifest into the queue a chunk at a time, while the workers already send.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::workers::Pool;
use crate::domain::{LocalError, VoiceSettings};
use crate::error::StorageError;
use crate::plan::{self, PlannedItem};
use crate::{audio, manifest, queue, store};

/// How many items are synced into the queue per transaction while the workers already run.
const SYNC_CHUNK: usize = 2000;
/// The first chunk is small (or `-j` items, if more), so the first requests leave before the
/// whole of a small manifest is planned; each chunk after it doubles, up to [`SYNC_CHUNK`].
const FIRST_CHUNK: usize = 64;

/// Syncs the manifest into the queue a chunk at a time on a blocking thread: each chunk is
/// planned, sent to the queue's writer as one job, and its items with all audio at hand are
/// handed to the pool to write. A stop ends it early (items it did not reach are simply not
/// synced, and none is marked removed). The pool learns when it is over, stop or not.
pub(super) fn spawn_sync(
    pool: Arc<Pool>,
    manifest: manifest::Manifest,
    defaults: Arc<VoiceSettings>,
    max_chars: usize,
    pause_ms: u64,
    mut voices: super::voice::ItemVoices,
    concurrency: usize,
) -> tokio::task::JoinHandle<Result<queue::SyncSummary, StorageError>> {
    let out = pool.out.clone();
    let blocking_pool = Arc::clone(&pool);
    let work = tokio::task::spawn_blocking(move || {
        let pool = blocking_pool;
        let mut summary = queue::SyncSummary::default();
        let mut chunk_len = FIRST_CHUNK.max(concurrency);
        let mut chunk = Vec::with_capacity(chunk_len);
        // Each item's pieces from the run before this one: kept where its text still has them.
        let run = pool.run;
        let previous = pool
            .queue
            .call_blocking(move |c| queue::previous_pieces(c, Some(run), max_chars))?;
        let flush = |chunk: Vec<PlannedItem>,
                     summary: &mut queue::SyncSummary|
         -> Result<(), StorageError> {
            let run = pool.run;
            // The disk is looked at here, never inside the writer's transaction.
            let facts = file_facts(&chunk, &out, &pool.pieces_dir);
            let synced = pool.queue.call_blocking(move |c| {
                let mut part = queue::SyncSummary::default();
                let synced = queue::sync_chunk(c, run, &chunk, &facts, &mut part)?;
                Ok((synced, part))
            })?;
            let (queue::SyncedChunk { ready, adoptable }, part) = synced;
            summary.add(&part);
            pool.synced_more(part.pending as u64);
            for item in ready {
                pool.spawn_build(item);
            }
            if adoptable.is_empty() {
                return Ok(());
            }
            let (adopted, damaged, waiting) =
                check_stored(&adoptable, &pool.pieces_dir, &pool.durable)?;
            let (ready, part) = pool.queue.call_blocking(move |c| {
                let mut part = queue::SyncSummary::default();
                let ready = queue::adopt_pieces(c, run, &adopted, &damaged, &waiting, &mut part)?;
                Ok((ready, part))
            })?;
            summary.add(&part);
            for item in ready {
                pool.spawn_build(item);
            }
            Ok(())
        };
        for (seq, item) in manifest.items()?.enumerate() {
            if pool.stop.is_cancelled() {
                return Ok(summary);
            }
            let mut item = item?;
            voices.apply(&mut item);
            let kept = previous.get(&item.key).map_or(&[][..], Vec::as_slice);
            chunk.push(plan::plan_item(
                seq, &item, &defaults, max_chars, pause_ms, kept,
            ));
            if chunk.len() >= chunk_len {
                flush(std::mem::take(&mut chunk), &mut summary)?;
                chunk_len = (chunk_len * 2).min(SYNC_CHUNK);
            }
        }
        flush(chunk, &mut summary)?;
        let run = pool.run;
        summary.removed = pool
            .queue
            .call_blocking(move |c| queue::finish_sync(c, run))?;
        Ok(summary)
    });
    tokio::spawn(async move {
        let result = work
            .await
            .map_err(|e| StorageError::Task {
                what: "syncing the manifest",
                source: Arc::new(e),
            })
            .and_then(|r| r);
        pool.sync_finished();
        result
    })
}

/// What the disk says about each item of a chunk: is its file there, is each piece's audio.
fn file_facts(chunk: &[PlannedItem], out: &Path, pieces_dir: &Path) -> Vec<queue::FileFacts> {
    chunk
        .iter()
        .map(|item| queue::FileFacts {
            output_exists: out.join(&item.output).is_file(),
            pieces_stored: item
                .pieces
                .iter()
                .map(|p| {
                    store::piece_path(pieces_dir, &p.fingerprint, item.settings.format).is_file()
                })
                .collect(),
        })
        .collect()
}

/// What the store holds for adoptable pieces: the adopted pieces, the damaged ones, and the
/// items that wait for them.
type Stored = (Vec<queue::Adopted>, Vec<String>, Vec<String>);

/// Checks stored audio that a run which died left unrecorded: whole audio is adopted, damaged
/// audio removed (it is requested again). The dead run renamed what it stored but may not have
/// synced it: the adopted pieces are synced (one batch) before the queue records them. Returns
/// the adopted pieces, the damaged ones and the items that wait for them.
fn check_stored(
    adoptable: &[queue::Adoptable],
    pieces_dir: &Path,
    durable: &store::GroupSync,
) -> Result<Stored, StorageError> {
    let mut adopted_paths = Vec::new();
    let mut adopted = Vec::new();
    let mut damaged = Vec::new();
    let mut seen = HashSet::new();
    let mut waiting = Vec::new();
    for a in adoptable {
        if !waiting.contains(&a.item_key) {
            waiting.push(a.item_key.clone());
        }
        if !seen.insert(a.fingerprint.as_str()) {
            continue;
        }
        let path = store::piece_path(pieces_dir, &a.fingerprint, a.format);
        match audio::validate(a.format, &path) {
            Ok(seconds) => {
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                adopted.push((a.fingerprint.clone(), bytes, seconds));
                adopted_paths.push(path);
            }
            Err(e) => {
                tracing::warn!(
                    "{}: stored audio is damaged, requesting it again: {e}",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                damaged.push(a.fingerprint.clone());
            }
        }
    }
    durable
        .sync_blocking(adopted_paths.iter().map(PathBuf::as_path))
        .map_err(|e| StorageError::Disk(LocalError::at(pieces_dir)(e)))?;
    Ok((adopted, damaged, waiting))
}
