//! Book metadata: what every file's tags and the book file say about the book, resolved once
//! per run from the flags, the manifest and (for EPUB) its package document.

use std::path::Path;
use std::sync::Arc;

use super::cover::{Cover, CoverError};
use crate::manifest::BookInfo;
use crate::settings::BookOptions;

/// What the tags say about the whole book.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookMeta {
    /// `--title`: the album of every file, and the book file's title and name.
    pub title: String,
    /// `--author`: the artist.
    pub author: Option<String>,
    /// `--narrator`: the composer (Audiobookshelf reads it as the narrator).
    pub narrator: Option<String>,
    /// `--cover`, checked.
    pub cover: Option<Arc<Cover>>,
}

/// The tags of one item file: the book's, plus its own title and place.
#[derive(Debug, Clone, Copy)]
pub struct TrackTags<'a> {
    pub book: &'a BookMeta,
    /// The item's title.
    pub title: &'a str,
    /// 1-based position among the items.
    pub track: u32,
    pub total: u32,
}

/// Every file of an audiobook says this genre.
pub const GENRE: &str = "Audiobook";

/// The one place the book's metadata defaults are resolved: a flag (or job-file key) wins, then
/// what the manifest says (Markdown: the title heading before the first chapter; EPUB: its
/// title, authors and cover), then the manifest's file stem for the title. A manifest's own
/// cover that is not a usable JPEG or PNG is left out with a warning (the user did not ask for
/// it by name); a `--cover` that is not is bad input, refused before anything is sent.
pub fn resolve(
    flags: &BookOptions,
    manifest: &BookInfo,
    manifest_path: &Path,
) -> Result<BookMeta, CoverError> {
    let title = flags
        .title
        .clone()
        .or_else(|| manifest.title.clone())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| {
            manifest_path
                .file_stem()
                .map_or_else(|| "book".to_owned(), |s| s.to_string_lossy().into_owned())
        });
    let author = flags
        .author
        .clone()
        .or_else(|| (!manifest.authors.is_empty()).then(|| manifest.authors.join(", ")));
    let cover = match &flags.cover {
        Some(path) => Some(Arc::new(Cover::load(path)?)),
        None => None,
    };
    let cover = cover.or_else(|| {
        let bytes = manifest.cover.clone()?;
        match Cover::from_bytes(bytes) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::warn!(
                    "{}: the book's own cover is left out: {}",
                    manifest_path.display(),
                    e.at(manifest_path)
                );
                None
            }
        }
    });
    Ok(BookMeta {
        title: title.trim().to_owned(),
        author,
        narrator: flags.narrator.clone(),
        cover,
    })
}
