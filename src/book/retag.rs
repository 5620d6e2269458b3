//! Tags that follow the settings (SPEC §8): when only the tag settings have changed since a
//! file was written (the book's title, author, narrator, series, description, cover, ...), the
//! file is retagged where it is: copied beside itself, the copy's tags replaced, synced and renamed
//! over it. No request, no re-encoding: the audio bytes stay as they were. What each item
//! file's tags were last written from is kept in the queue (`queue::set_item_tags`).

use std::path::Path;

use rusqlite::Connection;

use super::BookError;
use super::tags::{self, RunTags, TagError};
use crate::domain::AudioFormat;
use crate::queue::{self, BookItemRow};
use crate::store::TempFile;

/// Retags the done item files whose tags were written from other settings (or from unknown
/// ones: a file written before tags were tracked). Returns how many it retagged.
pub fn items(
    conn: &Connection,
    out: &Path,
    run_tags: &RunTags,
    done: &[&BookItemRow],
) -> Result<usize, BookError> {
    let mut retagged = 0;
    for item in done.iter().filter(|i| i.format != AudioFormat::Pcm) {
        let title = tags::item_title(item.title.as_deref(), &item.key);
        let expected = run_tags.fingerprint(item.format);
        if queue::item_tags_fingerprint(conn, &item.key)?.as_deref() == Some(expected.as_str()) {
            continue;
        }
        let path = out.join(&item.output);
        if !path.is_file() {
            // The next run's sync sees it missing and builds it again, tags and all.
            continue;
        }
        let bytes = file(&path, |temp| {
            run_tags.write(item.format, temp, title, item.seq)
        })?;
        queue::set_item_tags(conn, &item.key, &expected, Some(bytes))?;
        retagged += 1;
    }
    Ok(retagged)
}

/// Replaces the tags of the file at `path`: a copy beside it is tagged by `write`, synced and
/// renamed over it. Returns the file's new size.
pub fn file(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), TagError>,
) -> Result<u64, BookError> {
    let io_err = |e| BookError::write(path, e);
    let temp = TempFile::beside(path).map_err(io_err)?;
    std::fs::copy(path, temp.path()).map_err(io_err)?;
    write(temp.path()).map_err(BookError::Tag)?;
    let file = std::fs::File::open(temp.path()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    let bytes = file.metadata().map_err(io_err)?.len();
    drop(file);
    temp.persist(path).map_err(io_err)?;
    Ok(bytes)
}
