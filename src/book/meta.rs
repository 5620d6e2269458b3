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
    /// `--description` (plain text, paragraphs separated by blank lines).
    pub description: Option<String>,
    /// `--series` and `--series-index`.
    pub series: Option<Series>,
    pub publisher: Option<String>,
    /// The date of publication as the source writes it (`1886`, `2008-06-27`), or `--year`.
    pub date: Option<String>,
    /// The book's language (`en`, `en-GB`).
    pub language: Option<String>,
    /// The source's identifier (`urn:uuid:...`, an ISBN), for `metadata.opf`.
    pub identifier: Option<String>,
    /// The ISBN, digits only, where the source has one.
    pub isbn: Option<String>,
}

/// A series and the book's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    /// `2`, `1.5`: normalised by [`series_index`].
    pub index: Option<String>,
}

impl Series {
    /// How players and Audiobookshelf read a series from a grouping tag: `Name #2`.
    pub fn grouping(&self) -> String {
        match &self.index {
            Some(index) => format!("{} #{index}", self.name),
            None => self.name.clone(),
        }
    }
}

impl BookMeta {
    /// The year of [`BookMeta::date`]: its first four digits (tags carry the year, as
    /// Audiobookshelf reads it).
    pub fn year(&self) -> Option<&str> {
        let date = self.date.as_deref()?.trim();
        let year = date.get(..4)?;
        (year.bytes().all(|b| b.is_ascii_digit())
            && date.as_bytes().get(4).is_none_or(|b| !b.is_ascii_digit()))
        .then_some(year)
    }
}

/// A series index as a number written plainly: `2.0` → `2`, ` 1.50` → `1.5`. None when it is
/// not a number of zero or more.
pub fn series_index(text: &str) -> Option<String> {
    let n: f64 = text.trim().parse().ok()?;
    if !n.is_finite() || !(0.0..=1e9).contains(&n) {
        return None;
    }
    Some(format!("{n}"))
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
/// what the manifest says (Markdown: its front matter, else the title heading before the first
/// chapter; EPUB: its package metadata), then the manifest's file stem for the title. The
/// series index from a flag goes with the series from wherever it comes; a series from a flag
/// takes its index from the manifest only when the manifest names the same series. A manifest's own
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
    let about = &manifest.about;
    let narrator = flags
        .narrator
        .clone()
        .or_else(|| (!about.narrators.is_empty()).then(|| about.narrators.join(", ")));
    let series_name = flags.series.clone().or_else(|| about.series.clone());
    if series_name.is_none() && flags.series_index.is_some() {
        tracing::warn!(
            "--series-index is left out: the book names no series (give --series as well)"
        );
    }
    let series = series_name.map(|name| {
        let manifest_index = (about.series.as_deref() == Some(name.as_str()))
            .then(|| about.series_index.as_deref().and_then(series_index))
            .flatten();
        Series {
            index: flags.series_index.clone().or(manifest_index),
            name,
        }
    });
    Ok(BookMeta {
        title: title.trim().to_owned(),
        author,
        narrator,
        cover,
        description: flags
            .description
            .clone()
            .or_else(|| about.description.clone()),
        series,
        publisher: flags.publisher.clone().or_else(|| about.publisher.clone()),
        date: flags
            .year
            .map(|y| format!("{y:04}"))
            .or_else(|| about.date.clone()),
        language: manifest.language.clone(),
        identifier: about.identifier.clone(),
        isbn: about.isbn.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A book with every field set, as the tag tests write it.
    pub fn full_book() -> BookMeta {
        BookMeta {
            title: "Alice’s Adventures in Wonderland".into(),
            author: Some("Lewis Carroll".into()),
            narrator: Some("Ann Reader".into()),
            cover: Some(Arc::new(
                Cover::from_bytes(crate::book::cover::tests::jpeg()).unwrap(),
            )),
            description: Some("A girl falls down a rabbit hole.\n\nShe grows and shrinks.".into()),
            series: Some(Series {
                name: "Alice".into(),
                index: Some("1".into()),
            }),
            publisher: Some("Macmillan".into()),
            date: Some("1865-11-26".into()),
            language: Some("en".into()),
            identifier: Some("urn:isbn:9780141439761".into()),
            isbn: Some("9780141439761".into()),
        }
    }

    /// Asserts that ffprobe's tags (keys lowercased) carry every field of [`full_book`] where
    /// Audiobookshelf's scanner reads them.
    #[track_caller]
    pub fn assert_full_tags(tags: &std::collections::HashMap<String, String>, what: &str) {
        let book = full_book();
        let get = |k: &str| tags.get(k).map(String::as_str);
        assert_eq!(get("album"), Some(book.title.as_str()), "{what}: {tags:?}");
        assert_eq!(get("artist"), Some("Lewis Carroll"), "{what}");
        assert_eq!(get("album_artist"), Some("Lewis Carroll"), "{what}");
        assert_eq!(get("composer"), Some("Ann Reader"), "{what}");
        assert_eq!(get("genre"), Some("Audiobook"), "{what}");
        let description = get("description").or(get("comment"));
        assert_eq!(description, book.description.as_deref(), "{what}");
        assert_eq!(get("series"), Some("Alice"), "{what}: {tags:?}");
        assert_eq!(get("series-part"), Some("1"), "{what}");
        assert_eq!(get("grouping"), Some("Alice #1"), "{what}");
        assert_eq!(get("publisher"), Some("Macmillan"), "{what}");
        assert_eq!(get("date"), Some("1865"), "{what}");
        assert_eq!(get("language"), Some("en"), "{what}");
        assert_eq!(get("isbn"), Some("9780141439761"), "{what}");
    }

    #[test]
    fn series_index_and_year() {
        assert_eq!(series_index("2.0").as_deref(), Some("2"));
        assert_eq!(series_index(" 1.50").as_deref(), Some("1.5"));
        assert_eq!(series_index("-1"), None);
        assert_eq!(series_index("two"), None);
        assert_eq!(series_index("NaN"), None);
        let mut b = full_book();
        assert_eq!(b.year(), Some("1865"));
        b.date = Some("1886".into());
        assert_eq!(b.year(), Some("1886"));
        b.date = Some("circa 1900".into());
        assert_eq!(b.year(), None);
        assert_eq!(b.series.unwrap().grouping(), "Alice #1");
    }
}
