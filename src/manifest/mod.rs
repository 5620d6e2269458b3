//! Manifests → items. Each reader is a pure function of the text; the only I/O here is reading
//! the file, so that every error can name the file and line it comes from.

pub(crate) mod csv;
pub(crate) mod epub;
pub(crate) mod language;
pub(crate) mod lexicon;
pub(crate) mod lines;
pub mod markdown;
mod speech;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::domain::io_reason;
pub(crate) use crate::domain::{Item, Overrides};

pub use crate::settings::InputFormat;

/// How to read a manifest.
#[derive(Debug, Clone)]
pub(crate) struct ManifestOptions {
    pub format: InputFormat,
    pub text_column: String,
    pub id_column: String,
    pub chapter_level: Option<u8>,
    pub read_code: bool,
    /// EPUB: keep the front and back matter that is left out by default.
    pub keep_front_matter: bool,
    /// `--lexicon`: replacements applied to every item's spoken text.
    pub lexicon: Option<std::sync::Arc<lexicon::Lexicon>>,
}

/// A manifest that cannot be read. The message names the file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub(crate) struct ManifestError {
    pub file: String,
    pub message: String,
}

impl ManifestError {
    fn new(path: &Path, message: impl Into<String>) -> Self {
        ManifestError {
            file: path.display().to_string(),
            message: message.into(),
        }
    }
}

/// A manifest read into memory. Its items are made one at a time, so a run over a million
/// lines never holds a million items.
pub(crate) struct Manifest {
    path: PathBuf,
    text: String,
    opts: ManifestOptions,
    /// Markdown and EPUB books are cut into chapters once (books are small); lines and CSV
    /// stream from `text`.
    chapters: Vec<Item>,
    /// Lines of Markdown chapters that are only their heading (no item).
    heading_only: Vec<usize>,
    /// What an EPUB says about itself, and the chapters it leaves out.
    epub: Option<EpubInfo>,
    /// A Markdown book's own title: the heading above its first chapter.
    markdown_title: Option<String>,
}

/// What a manifest says about the book as a whole, for the tags and the book file: a Markdown
/// book's title heading (above its first chapter); an EPUB's title, authors and cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookInfo {
    pub title: Option<String>,
    pub authors: Vec<String>,
    /// The cover picture's bytes, not yet checked.
    pub cover: Option<Vec<u8>>,
}

/// What an EPUB manifest knows beyond its items.
struct EpubInfo {
    metadata: BookMetadata,
    left_out: Vec<LeftOut>,
}

pub(crate) use epub::BookMetadata;

/// A chapter of a book that is not read, and why (for `plan`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeftOut {
    pub title: String,
    /// Where it is in the book: the document's path in the archive, with `#id` for a part.
    pub href: String,
    pub reason: String,
}

/// Opens a manifest: reads it as UTF-8 text (an EPUB as a book). Use [`Manifest::check`]
/// before trusting its items.
pub(crate) fn open(path: &Path, opts: &ManifestOptions) -> Result<Manifest, ManifestError> {
    let mut manifest = Manifest {
        path: path.to_path_buf(),
        text: String::new(),
        opts: opts.clone(),
        chapters: Vec::new(),
        heading_only: Vec::new(),
        epub: None,
        markdown_title: None,
    };
    match opts.format {
        InputFormat::Epub => {
            let (chapters, book) = epub_items(path, opts)?;
            manifest.chapters = chapters;
            manifest.epub = Some(book);
        }
        InputFormat::Markdown => {
            manifest.text = read_text(path)?;
            let (chapters, heading_only) = markdown_items(&manifest.text, opts);
            if !chapters.is_empty() && !heading_only.is_empty() {
                let lines: Vec<String> = heading_only.iter().map(|l| format!("line {l}")).collect();
                tracing::warn!(
                    "{}: {} chapters are only a heading and are left out ({})",
                    path.display(),
                    heading_only.len(),
                    lines.join(", ")
                );
            }
            manifest.markdown_title = markdown::book_title(
                &manifest.text,
                &markdown::MarkdownOptions {
                    chapter_level: opts.chapter_level,
                    read_code: opts.read_code,
                },
            );
            manifest.chapters = chapters;
            manifest.heading_only = heading_only;
        }
        InputFormat::Lines | InputFormat::Csv => manifest.text = read_text(path)?,
    }
    Ok(manifest)
}

impl Manifest {
    /// Whether the manifest is a book (Markdown or EPUB), whose items are titled chapters.
    pub fn is_book(&self) -> bool {
        matches!(self.opts.format, InputFormat::Markdown | InputFormat::Epub)
    }

    /// An EPUB's title, authors, language and cover (the defaults of the book's tags); None
    /// for other manifests.
    pub fn metadata(&self) -> Option<&BookMetadata> {
        self.epub.as_ref().map(|b| &b.metadata)
    }

    /// An EPUB's chapters that are not read (front and back matter, empty pages), in reading
    /// order; empty for other manifests.
    pub fn left_out(&self) -> &[LeftOut] {
        self.epub.as_ref().map_or(&[], |b| b.left_out.as_slice())
    }

    /// What the manifest says about the book as a whole: an EPUB's title, authors and cover; a
    /// Markdown book's title heading; nothing for lines and CSV.
    pub fn book_info(&self) -> BookInfo {
        match &self.epub {
            Some(epub) => BookInfo {
                title: epub.metadata.title.clone(),
                authors: epub.metadata.authors.clone(),
                cover: epub.metadata.cover.as_ref().map(|c| c.bytes.clone()),
            },
            None => BookInfo {
                title: self.markdown_title.clone(),
                ..BookInfo::default()
            },
        }
    }

    /// The items in manifest order. Each is checked on its own; [`Manifest::check`] checks them
    /// against each other.
    pub fn items(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<Item, ManifestError>> + '_>, ManifestError> {
        self.items_warning(false)
    }

    /// The items; `warn` shows the warnings about skipped rows (the check pass does).
    fn items_warning(
        &self,
        warn: bool,
    ) -> Result<Box<dyn Iterator<Item = Result<Item, ManifestError>> + '_>, ManifestError> {
        let items = self.items_as_written(warn)?;
        let Some(lexicon) = self.opts.lexicon.as_ref().filter(|l| !l.is_empty()) else {
            return Ok(items);
        };
        Ok(Box::new(items.map(move |item| {
            item.map(|mut item| {
                let (text, count) = lexicon.apply(&item.text);
                item.text = normalize(&text);
                item.replacements = count;
                item
            })
        })))
    }

    /// The items before the lexicon.
    fn items_as_written(
        &self,
        warn: bool,
    ) -> Result<Box<dyn Iterator<Item = Result<Item, ManifestError>> + '_>, ManifestError> {
        let err = |e: csv::CsvError| ManifestError::new(&self.path, e.to_string());
        Ok(match self.opts.format {
            InputFormat::Lines => Box::new(lines::items(&self.text).map(Ok)),
            InputFormat::Csv => Box::new(
                csv::rows(&self.text, &self.opts, warn)
                    .map_err(err)?
                    .map(move |r| r.map_err(err)),
            ),
            InputFormat::Markdown | InputFormat::Epub => {
                Box::new(self.chapters.iter().cloned().map(Ok))
            }
        })
    }

    /// Reads every item once and checks the whole manifest: something to say, no duplicate
    /// keys, no two items writing one file. `each` sees every item (to plan it, say), may refuse
    /// it, and returns the item's final file name relative to `--out`, extension included: two
    /// names that differ only in case are one file on macOS and Windows, so they are compared
    /// lowercased. Returns the number of items. Memory stays small: keys and file names are
    /// kept as 64-bit hashes.
    pub fn check<E: std::fmt::Display>(
        &self,
        mut each: impl FnMut(&Item) -> Result<String, E>,
    ) -> Result<usize, ManifestError> {
        let err = |m: String| ManifestError::new(&self.path, m);
        let mut keys: HashMap<u64, u64> = HashMap::new();
        let mut outputs: HashMap<u64, u64> = HashMap::new();
        let mut count = 0;
        for item in self.items_warning(true)? {
            let item = item?;
            if let Some(first) = keys.insert(hash(&item.key), item.line) {
                return Err(err(format!(
                    "line {}: duplicate key `{}` (first on line {first})",
                    item.line, item.key
                )));
            }
            let output = each(&item).map_err(|e| err(e.to_string()))?;
            if let Some(first) = outputs.insert(hash(&output.to_lowercase()), item.line) {
                return Err(err(format!(
                    "line {}: item `{}` would write the same file `{output}` as the item on line {first} (names are compared ignoring case)",
                    item.line, item.key
                )));
            }
            count += 1;
        }
        if count == 0 {
            if let Some(line) = self.heading_only.first() {
                return Err(err(format!(
                    "line {line}: headings and no prose: every chapter is only its heading, so there is nothing to say"
                )));
            }
            return Err(err("nothing to say: the manifest has no text".into()));
        }
        Ok(count)
    }
}

fn hash(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

#[cfg(test)]
/// Reads, checks and collects the manifest at `path` (small manifests and tests).
pub(crate) fn load(path: &Path, opts: &ManifestOptions) -> Result<Vec<Item>, ManifestError> {
    let manifest = open(path, opts)?;
    manifest.check(|item| Ok::<_, std::convert::Infallible>(item.output.clone()))?;
    manifest.items()?.collect()
}

/// Reads a manifest as UTF-8 text (a leading BOM dropped), naming the line of invalid bytes.
fn read_text(path: &Path) -> Result<String, ManifestError> {
    if path.is_dir() {
        return Err(ManifestError::new(path, "is a directory, not a manifest"));
    }
    let bytes = std::fs::read(path).map_err(|e| ManifestError::new(path, io_reason(&e)))?;
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            Ok(text)
        }
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let line = bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
            let col = valid
                - bytes[..valid]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1)
                + 1;
            Err(ManifestError::new(
                path,
                format!("line {line}, byte {col}: not valid UTF-8 text"),
            ))
        }
    }
}

/// Reads the EPUB at `path`: an item per kept chapter, numbered in reading order and named
/// `NN-slug` as Markdown chapters are, and what the book says about itself.
fn epub_items(path: &Path, opts: &ManifestOptions) -> Result<(Vec<Item>, EpubInfo), ManifestError> {
    if path.is_dir() {
        return Err(ManifestError::new(path, "is a directory, not a manifest"));
    }
    let bytes = std::fs::read(path).map_err(|e| ManifestError::new(path, io_reason(&e)))?;
    let options = epub::EpubOptions {
        keep_front_matter: opts.keep_front_matter,
        read_code: opts.read_code,
    };
    let book = epub::read(&bytes, &options).map_err(|e| ManifestError::new(path, e.to_string()))?;
    let mut left_out = Vec::new();
    let mut kept = Vec::new();
    for (position, chapter) in book.chapters.into_iter().enumerate() {
        if chapter.kept {
            kept.push((position, chapter));
        } else {
            left_out.push(LeftOut {
                title: chapter.title,
                href: chapter.href,
                reason: chapter.reason.unwrap_or_default(),
            });
        }
    }
    if kept.is_empty() && !left_out.is_empty() && !opts.keep_front_matter {
        return Err(ManifestError::new(
            path,
            "nothing to say: every chapter is front or back matter or empty (see `plan`; \
             --keep-front-matter keeps front and back matter)",
        ));
    }
    let width = kept.len().to_string().len().max(2);
    let items = kept
        .into_iter()
        .enumerate()
        .map(|(index, (position, chapter))| {
            let number = format!("{:0width$}", index.saturating_add(1));
            let slug = crate::slug::slug(&chapter.title);
            let stem = if slug.is_empty() {
                number
            } else {
                format!("{number}-{slug}")
            };
            Item {
                key: stem.clone(),
                title: Some(chapter.title).filter(|t| !t.is_empty()),
                text: normalize(&chapter.text),
                overrides: Overrides::default(),
                output: stem,
                has_extension: false,
                // The chapter's place in the book's reading order stands in for a line.
                line: u64::try_from(position)
                    .unwrap_or(u64::MAX)
                    .saturating_add(1),
                replacements: 0,
            }
        })
        .collect();
    let info = EpubInfo {
        metadata: book.metadata,
        left_out,
    };
    Ok((items, info))
}

/// The chapters of a Markdown book as items, and the lines of chapters that are only their
/// heading: a heading alone is no item (nobody pays to hear a table of contents).
fn markdown_items(text: &str, opts: &ManifestOptions) -> (Vec<Item>, Vec<usize>) {
    let md = markdown::MarkdownOptions {
        chapter_level: opts.chapter_level,
        read_code: opts.read_code,
    };
    let chapters = markdown::chapters(text, &md);
    let width = chapters.len().to_string().len().max(2);
    let mut heading_only = Vec::new();
    let items = chapters
        .into_iter()
        .filter_map(|ch| {
            let text = normalize(&ch.text);
            if text.is_empty() {
                return None;
            }
            if ch.number > 0 && !ch.title.is_empty() && text == normalize(&ch.title) {
                heading_only.push(ch.line);
                return None;
            }
            let slug = crate::slug::slug(&ch.title);
            let number = format!("{:0width$}", ch.number);
            let stem = if slug.is_empty() {
                number
            } else {
                format!("{number}-{slug}")
            };
            Some(Item {
                key: stem.clone(),
                title: Some(ch.title).filter(|t| !t.is_empty()),
                text,
                overrides: Overrides::default(),
                output: stem,
                has_extension: false,
                line: ch.line as u64,
                replacements: 0,
            })
        })
        .collect();
    (items, heading_only)
}

/// The longest file name (one path component, in bytes) an item may have: the usual limit is
/// 255, and temporary names (`.NAME.tts-tmp`) and subtitle files beside it need room too.
pub(crate) const MAX_NAME_BYTES: usize = 200;

/// The file name of an item whose name comes from its key or title: `stem.ext` if it fits in
/// [`MAX_NAME_BYTES`], else the stem cut at a character boundary, `-`, and 8 hex digits of the
/// SHA-256 of the whole stem, so that two long names that start alike stay two names, and the
/// same stem gets the same name on every run.
pub fn fit_file_name(stem: &str, ext: &str) -> String {
    use sha2::{Digest, Sha256};
    let full = format!("{stem}.{ext}");
    if full.len() <= MAX_NAME_BYTES {
        return full;
    }
    let digest = hex::encode(Sha256::digest(stem.as_bytes()));
    let tag = digest.get(..8).unwrap_or(&digest);
    let room = MAX_NAME_BYTES.saturating_sub(ext.len() + tag.len() + 2);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{tag}.{ext}", stem.get(..cut).unwrap_or_default())
}

/// Zero-padded key of a line or row number, at least 4 digits wide.
pub(crate) fn padded(number: usize, total: usize) -> String {
    let width = total.to_string().len().max(4);
    format!("{number:0width$}")
}

/// File-name-safe form of a key: letters, digits, `-`, `_` and `.` kept, anything else `_`.
pub(crate) fn sanitize(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() { "_".to_string() } else { s }
}

/// Normalises text for speech: CRLF/CR → LF; trims each line's trailing whitespace; runs of
/// spaces/tabs (and other non-newline Unicode whitespace, e.g. U+3000, NBSP) become one ASCII
/// space; 3+ newlines become exactly 2 ("\n\n" = paragraph break); a single newline stays;
/// leading/trailing whitespace of the whole text is removed. Idempotent.
///
/// The other Unicode line breaks (VT, FF, NEL, U+2028) count as one newline and U+2029
/// PARAGRAPH SEPARATOR as two, so the output's only line break is LF.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Whitespace is held back until the next visible character shows it is not trailing.
    let mut newlines = 0usize;
    let mut space = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' => {
                newlines += 1;
                space = false;
            }
            '\u{2029}' => {
                newlines += 2;
                space = false;
            }
            c if c.is_whitespace() => space = true,
            c => {
                if !out.is_empty() {
                    match newlines {
                        0 => {}
                        1 => out.push('\n'),
                        _ => out.push_str("\n\n"),
                    }
                    if space {
                        out.push(' ');
                    }
                }
                newlines = 0;
                space = false;
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts(format: InputFormat) -> ManifestOptions {
        ManifestOptions {
            format,
            text_column: "text".into(),
            id_column: "id".into(),
            chapter_level: None,
            read_code: false,
            keep_front_matter: false,
            lexicon: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes through every reader: an item list or an error, never a panic.
        #[test]
        fn any_bytes_through_every_reader_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("m");
            std::fs::write(&path, &bytes).unwrap();
            for format in [InputFormat::Lines, InputFormat::Csv, InputFormat::Markdown, InputFormat::Epub] {
                if let Ok(items) = load(&path, &opts(format)) {
                    prop_assert!(!items.is_empty());
                    prop_assert!(items.iter().all(|i| !i.text.is_empty() && !i.key.is_empty()));
                }
            }
        }

        /// CSV-shaped text (quotes, commas, newlines, the known columns) never panics either.
        #[test]
        fn csv_shaped_text_never_panics(cells in proptest::collection::vec(r#"[a-z0-9 ,"\n./é语-]{0,12}"#, 0..30)) {
            let text = format!("id,text,voice,speed,audio_format,output\n{}", cells.join(","));
            let opts = opts(InputFormat::Csv);
            if let Ok(rows) = csv::rows(&text, &opts, false) {
                for row in rows {
                    let _ = row;
                }
            }
        }
    }

    #[test]
    fn long_names_are_shortened_uniquely_and_stably() {
        assert_eq!(fit_file_name("short", "mp3"), "short.mp3");
        let a = fit_file_name(&"a".repeat(300), "mp3");
        let b = fit_file_name(&format!("{}b", "a".repeat(299)), "mp3");
        assert!(a.len() <= MAX_NAME_BYTES && b.len() <= MAX_NAME_BYTES);
        assert_ne!(a, b);
        assert_eq!(a, fit_file_name(&"a".repeat(300), "mp3"));
        let wide = fit_file_name(&"語".repeat(120), "flac");
        assert!(
            wide.len() <= MAX_NAME_BYTES && wide.ends_with(".flac"),
            "{wide}"
        );
    }
}
