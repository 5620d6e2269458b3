//! Reads and writes for the book's outputs (playlist, subtitles, book file): the items in
//! manifest order with what their files are made of, each item's pieces' text and lengths, and
//! the fingerprint of the book file last written.

use rusqlite::{Connection, OptionalExtension, params};

use super::QueueError;
use crate::domain::{AudioFormat, ItemState};

/// An item of the manifest, as the book sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookItemRow {
    pub key: String,
    pub title: Option<String>,
    pub output: String,
    pub format: AudioFormat,
    pub status: ItemState,
    pub audio_seconds: Option<f64>,
    /// What the item's file was last built from (its audio, not its tags).
    pub built_fingerprint: Option<String>,
}

impl BookItemRow {
    /// Whether its file is whole and current.
    pub fn is_done(&self) -> bool {
        self.status == ItemState::Done
    }

    /// The title players show: the item's title, else its key.
    pub fn title(&self) -> &str {
        self.title
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(&self.key)
    }

    /// The file's measured length.
    pub fn seconds(&self) -> f64 {
        self.audio_seconds.unwrap_or(0.0)
    }

    /// What the file's audio is made of (the cache key of its book encoding).
    pub fn audio_fingerprint(&self) -> &str {
        self.built_fingerprint.as_deref().unwrap_or(&self.key)
    }
}

/// The manifest's items (not the removed ones) in manifest order.
pub fn book_items(conn: &Connection) -> Result<Vec<BookItemRow>, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT key, title, output, format, status, audio_seconds, built_fingerprint
         FROM items WHERE status != 'removed' ORDER BY seq, key",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(BookItemRow {
            key: r.get(0)?,
            title: r.get(1)?,
            output: r.get(2)?,
            format: r.get(3)?,
            status: r.get(4)?,
            audio_seconds: r.get(5)?,
            built_fingerprint: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An item's pieces in order: the text sent, the measured seconds of its audio, and the
/// transcript's timings when it was heard back (JSON `[[start, end, text], ...]`).
pub fn item_piece_timings(
    conn: &Connection,
    key: &str,
) -> Result<Vec<(String, f64, Option<String>)>, QueueError> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.text, coalesce(p.audio_seconds, 0), p.timings FROM item_pieces ip
         JOIN pieces p ON p.fingerprint = ip.piece
         WHERE ip.item_key = ?1 ORDER BY ip.idx",
    )?;
    let rows = stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The fingerprint of the output `name` (`book`) when it was last written.
pub fn output_fingerprint(conn: &Connection, name: &str) -> Result<Option<String>, QueueError> {
    Ok(conn
        .query_row(
            "SELECT fingerprint FROM outputs WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

/// Records what the output `name` was just written from.
pub fn set_output_fingerprint(
    conn: &Connection,
    name: &str,
    fingerprint: &str,
) -> Result<(), QueueError> {
    conn.execute(
        "INSERT INTO outputs (name, fingerprint, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
        params![name, fingerprint, super::now_rfc3339()],
    )?;
    Ok(())
}
