//! The EPUB reader: an EPUB 2 or EPUB 3 book (the bytes of its zip archive) → its metadata and
//! its chapters as speech text, in reading order, each marked kept or left out (and why).
//!
//! How a book is read:
//! - the zip archive is opened ([`archive`]); a book whose `META-INF/encryption.xml` encrypts
//!   anything but fonts is DRM-protected and refused; entries are read within size limits;
//! - `META-INF/container.xml` names the package document, which gives the metadata, the files
//!   and the spine, the reading order ([`package`]);
//! - the table of contents is the EPUB 3 nav document, else the EPUB 2 NCX ([`toc`]);
//! - each spine document is read as speech text ([`text`]): one chapter per document, titled
//!   by the table of contents' entry for it, or one per entry where the table of contents
//!   points at several places in one document. Nested entries count at the chapter level: the
//!   depth that most documents are first listed at, so sections inside a chapter do not cut
//!   it, while a book that lists its chapters under parts keeps a chapter per document;
//! - front and back matter (cover, title page, table of contents, copyright, colophon,
//!   licence, lists of illustrations, index, endnotes) is left out, decided by the book's own
//!   semantics where it has them (`epub:type` and `role`, nav landmarks, the OPF `<guide>`),
//!   else by well-known titles and file names; a chapter with no text is left out too.
//!
//! The reader is a pure function over bytes: no file system, no other part of the program.

mod archive;
mod decode;
mod markup;
mod package;
mod text;
mod toc;

use std::collections::HashMap;

use archive::{Archive, Target};
use package::{ManifestItem, Package};
use toc::{Landmark, TocEntry};

/// How to read a book.
#[derive(Debug, Clone, Copy, Default)]
pub struct EpubOptions {
    /// Keep front and back matter (title page, copyright, ...) that is left out by default.
    pub keep_front_matter: bool,
    /// Read `<pre>` (code) aloud, as `--read-code` reads Markdown's code blocks.
    pub read_code: bool,
}

/// A book: what it says about itself, and its chapters in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    pub metadata: BookMetadata,
    /// Every spine document (or part of one) in reading order, kept or not.
    pub chapters: Vec<Chapter>,
}

/// The book's metadata from its package document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookMetadata {
    /// `dc:title` (the one refined as `main`, if several).
    pub title: Option<String>,
    /// `dc:creator`s whose role is author (or unstated).
    pub authors: Vec<String>,
    /// `dc:language`, as written (`en-GB`).
    pub language: Option<String>,
    pub cover: Option<Cover>,
    /// Description, series, publisher, date, identifiers, narrators.
    pub about: About,
}

pub use package::About;

/// The cover image.
#[derive(Clone, PartialEq, Eq)]
pub struct Cover {
    pub bytes: Vec<u8>,
    /// `image/jpeg`, `image/png`, ...: from the bytes when they are JPEG or PNG, else as the
    /// package declares it.
    pub media_type: String,
}

impl std::fmt::Debug for Cover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cover")
            .field("bytes", &self.bytes.len())
            .field("media_type", &self.media_type)
            .finish()
    }
}

/// One chapter: a spine document, or the part of one that a table-of-contents entry starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chapter {
    /// From the table of contents, else the document's first heading, else its `<title>`;
    /// may be empty.
    pub title: String,
    /// What is spoken: the heading first (the title, if the document does not start with a
    /// heading), paragraphs separated by `"\n\n"`. Empty for a document with no text.
    pub text: String,
    /// Where it is in the archive: the document's path, with `#id` for a part of one.
    pub href: String,
    /// Whether it is read. Left-out chapters are listed so that `plan` can say why.
    pub kept: bool,
    /// Why it is left out ("title page (epub:type titlepage)", "no text"); None when kept.
    pub reason: Option<String>,
}

/// A book that cannot be read. Each message is one lowercase line naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum EpubError {
    #[error("not an EPUB: not a zip archive")]
    NotZip,
    #[error("not an EPUB: no META-INF/container.xml")]
    NoContainer,
    #[error("no package document: {0}")]
    NoPackage(String),
    #[error("spine entry `{0}` is missing")]
    MissingSpineEntry(String),
    #[error("the book is DRM-protected: `{0}` is encrypted")]
    Drm(String),
    #[error("invalid XML in `{path}`: {reason}")]
    InvalidXml { path: String, reason: String },
    #[error("refused as a zip bomb: {0}")]
    ZipBomb(String),
    #[error("path `{0}` leaves the archive")]
    OutsideArchive(String),
    #[error("cannot read `{path}` in the archive: {reason}")]
    Entry { path: String, reason: String },
}

/// Reads the EPUB in `bytes`.
pub fn read(bytes: &[u8], opts: &EpubOptions) -> Result<Book, EpubError> {
    let mut archive = Archive::open(bytes)?;
    archive.check_encryption()?;
    let package = package::read(&mut archive)?;
    let metadata = metadata(&mut archive, &package)?;
    let navigation = navigation(&mut archive, &package)?;
    let spine = spine(&archive, &package)?;
    let level = chapter_level(&navigation.toc);

    // The entries that point into each document, in table-of-contents order.
    let mut entries_by_file: HashMap<&str, Vec<&TocEntry>> = HashMap::new();
    for entry in &navigation.toc {
        if let Some(target) = &entry.target {
            entries_by_file
                .entry(target.path.as_str())
                .or_default()
                .push(entry);
        }
    }
    let semantics = Semantics {
        landmarks: &navigation.landmarks,
        guide: &package.guide,
    };

    // Documents listed at the chapter level: where they are few, the chapters are the
    // entries under them (stories of one document listed under a part heading).
    let listed_at_level = {
        let mut paths: Vec<&str> = navigation
            .toc
            .iter()
            .filter(|e| e.depth <= level)
            .filter_map(|e| e.target.as_ref().map(|t| t.path.as_str()))
            .collect();
        paths.sort_unstable();
        paths.dedup();
        paths.len()
    };

    let mut chapters = Vec::new();
    let mut read_paths: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (item, linear) in spine {
        // A spine that lists a document twice, or parts of one as `file#id`, reads it once.
        if !read_paths.insert(item.path.as_str()) {
            continue;
        }
        let entries = entries_by_file
            .get(item.path.as_str())
            .map_or(&[][..], Vec::as_slice);
        // Where the whole book is one or two documents, every titled entry into this one
        // starts a chapter, however deep the contents nests it under parts.
        let deeper: Vec<usize> = entries
            .iter()
            .filter(|e| e.depth > level && !e.title.trim().is_empty())
            .filter(|e| e.target.as_ref().is_some_and(|t| t.fragment.is_some()))
            .map(|e| e.depth)
            .collect();
        let document_level = match deeper.iter().max() {
            Some(&deepest) if listed_at_level < 3 && deeper.len() >= 2 => deepest,
            _ => level,
        };
        let (first_title, cuts) = cuts(entries, document_level);
        let is_text = matches!(
            item.media_type.as_str(),
            "application/xhtml+xml" | "text/html" | "application/html" | ""
        ) || item.path.ends_with("html");
        let content = if is_text {
            let bytes = archive
                .read(&item.path)?
                .ok_or_else(|| EpubError::MissingSpineEntry(item.path.clone()))?;
            text::read(
                &decode::decode(&item.path, &bytes),
                &cuts,
                first_title,
                opts.read_code,
            )
        } else {
            text::Content::default()
        };
        let segments = if content.segments.is_empty() {
            vec![text::Segment::default()]
        } else {
            content.segments
        };
        for segment in segments {
            let (fragment, toc_title) = match segment.cut {
                Some(i) => cuts
                    .get(i)
                    .map_or((None, ""), |c| (Some(c.id.as_str()), c.title.as_str())),
                None => (None, first_title),
            };
            let title = Some(toc_title)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .or_else(|| segment.heading.clone())
                .or_else(|| content.title.as_deref().map(package::collapse))
                .unwrap_or_default();
            let speech = heading_first(&segment, &title);
            let front_matter = if !linear {
                Some("outside the reading order (linear=\"no\")".to_owned())
            } else if item.has_property("nav") {
                Some("table of contents (the nav document)".to_owned())
            } else {
                semantics
                    .front_matter(&item.path, fragment, &segment.types, &title)
                    .or_else(|| shape_kind(&segment, &speech))
                    .or_else(|| retailer_kind(&speech))
            };
            let front_matter = front_matter.filter(|_| !opts.keep_front_matter);
            let reason = match front_matter {
                Some(reason) => Some(reason),
                None if speech.is_empty() => Some("no text".to_owned()),
                // As in Markdown, a heading alone is no chapter (a part's title page, say).
                _ if segment.starts_with_heading && !speech.contains("\n\n") => {
                    Some("only a heading".to_owned())
                }

                _ => None,
            };
            chapters.push(Chapter {
                title,
                text: speech,
                href: match fragment {
                    Some(id) => format!("{}#{id}", item.path),
                    None => item.path.clone(),
                },
                kept: reason.is_none(),
                reason,
            });
        }
    }
    Ok(Book { metadata, chapters })
}

/// Front matter known by its shape: a title page is headings alone (the book's title,
/// subtitle and author, as Project Gutenberg's), a contents list is links alone.
fn shape_kind(segment: &text::Segment, speech: &str) -> Option<String> {
    if segment.prose_words == 0 && speech.contains("\n\n") {
        return Some("title page (only headings)".to_owned());
    }
    if segment.link_words >= 3 && segment.link_words * 10 >= segment.prose_words * 9 {
        return Some("table of contents (only links)".to_owned());
    }
    None
}

/// A retailer's own pages, known by what they say, as Project Gutenberg's are: Feedbooks opens
/// its public-domain books with an "About" page (the author, its other books, "This book is
/// brought to you by Feedbooks") and closes them with "Recommendations" ("Similar users also
/// downloaded"). Neither is the book.
fn retailer_kind(speech: &str) -> Option<String> {
    const FEEDBOOKS: [&str; 2] = [
        "brought to you by feedbooks",
        "similar users also downloaded",
    ];
    let said = speech.to_lowercase();
    FEEDBOOKS
        .iter()
        .any(|phrase| said.contains(phrase))
        .then(|| "the retailer's page (Feedbooks)".to_owned())
}

/// What a segment says, its heading first, once: the title is put before the text when the
/// text does not start with a heading, and then the heading found later (after an epigraph,
/// a page number or a label) is not read again.
fn heading_first(segment: &text::Segment, title: &str) -> String {
    let text = &segment.text;
    if text.is_empty() || segment.starts_with_heading || title.is_empty() {
        return text.clone();
    }
    let mut paragraphs: Vec<&str> = text.split("\n\n").collect();
    if let Some(heading) = &segment.heading
        && let Some(at) = paragraphs.iter().position(|p| text::same_words(p, heading))
        && (text::same_words(heading, title) || title.contains(heading.as_str()))
    {
        paragraphs.remove(at);
    }
    let rest = paragraphs.join("\n\n");
    if rest.is_empty() {
        title.to_owned()
    } else {
        format!("{title}\n\n{rest}")
    }
}

/// The title of a document's first table-of-contents entry, and where the entries after it
/// cut the document into chapters: those at the chapter level or above that point at an
/// element inside it.
fn cuts<'e>(entries: &[&'e TocEntry], level: usize) -> (&'e str, Vec<text::Cut>) {
    let first_title = entries.first().map_or("", |e| e.title.as_str());
    let first_fragment = entries
        .first()
        .and_then(|e| e.target.as_ref())
        .and_then(|t| t.fragment.as_deref());
    let mut cuts: Vec<text::Cut> = Vec::new();
    for entry in entries
        .iter()
        .skip(1)
        .filter(|e| e.depth <= level && !e.title.trim().is_empty())
    {
        let Some(id) = entry.target.as_ref().and_then(|t| t.fragment.as_deref()) else {
            continue;
        };
        if Some(id) != first_fragment && !cuts.iter().any(|c| c.id == id) {
            cuts.push(text::Cut {
                id: id.to_owned(),
                title: entry.title.clone(),
            });
        }
    }
    (first_title, cuts)
}

fn metadata(archive: &mut Archive<'_>, package: &Package) -> Result<BookMetadata, EpubError> {
    let cover_item = package.cover_id.as_deref().and_then(|id| {
        package
            .manifest
            .get(id)
            // Some books name the cover's file in <meta name="cover">, not its id.
            .or_else(|| {
                let target = archive::resolve(archive::directory(&package.path), id).ok()??;
                package.manifest.values().find(|i| i.path == target.path)
            })
    });
    let mut cover = None;
    if let Some(item) = cover_item
        && let Some(bytes) = archive.read(&item.path)?
    {
        let media_type = if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "image/jpeg".to_owned()
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png".to_owned()
        } else {
            item.media_type.clone()
        };
        if media_type.starts_with("image/") {
            cover = Some(Cover { bytes, media_type });
        }
    }
    Ok(BookMetadata {
        title: package.title.clone(),
        authors: package.authors.clone(),
        language: package.language.clone(),
        cover,
        about: package.about.clone(),
    })
}

/// The table of contents and landmarks: the nav document's, else the NCX's. Either may be
/// missing (they are optional to a reader); their XML is recovered as HTML when broken.
fn navigation(archive: &mut Archive<'_>, package: &Package) -> Result<toc::Navigation, EpubError> {
    let mut navigation = toc::Navigation::default();
    if let Some(nav) = package.manifest.values().find(|i| i.has_property("nav"))
        && let Some(bytes) = archive.read(&nav.path)?
    {
        navigation = toc::read_nav(&nav.path, &decode::decode(&nav.path, &bytes));
    }
    if navigation.toc.is_empty() {
        let ncx = package
            .ncx_id
            .as_deref()
            .and_then(|id| package.manifest.get(id))
            .or_else(|| {
                package
                    .manifest
                    .values()
                    .find(|i| i.media_type == "application/x-dtbncx+xml")
            });
        if let Some(ncx) = ncx
            && let Some(bytes) = archive.read(&ncx.path)?
        {
            navigation.toc = toc::read_ncx(&ncx.path, &decode::decode(&ncx.path, &bytes));
        }
    }
    Ok(navigation)
}

/// The spine's documents with whether each is in the linear reading order. Every entry must
/// be in the manifest and in the archive.
fn spine<'p>(
    archive: &Archive<'_>,
    package: &'p Package,
) -> Result<Vec<(&'p ManifestItem, bool)>, EpubError> {
    package
        .spine
        .iter()
        .map(|entry| {
            let item = package
                .manifest
                .get(&entry.idref)
                .ok_or_else(|| EpubError::MissingSpineEntry(entry.idref.clone()))?;
            if !archive.contains(&item.path) {
                return Err(EpubError::MissingSpineEntry(item.path.clone()));
            }
            Ok((item, entry.linear))
        })
        .collect()
}

/// The depth of table-of-contents entries that chapters are at: the depth at which most
/// documents are first listed (ties: the shallower). Entries deeper than this do not cut a
/// document into chapters.
fn chapter_level(toc: &[TocEntry]) -> usize {
    let mut first_depth: HashMap<&str, usize> = HashMap::new();
    for entry in toc {
        if let Some(target) = &entry.target {
            first_depth
                .entry(target.path.as_str())
                .or_insert(entry.depth);
        }
    }
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for depth in first_depth.values() {
        *counts.entry(*depth).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|(d1, n1), (d2, n2)| n1.cmp(n2).then(d2.cmp(d1)))
        .map_or(1, |(depth, _)| depth)
}

/// What the book says about its parts: landmarks and the OPF guide.
struct Semantics<'a> {
    landmarks: &'a [Landmark],
    guide: &'a [(String, Target)],
}

/// Structural `epub:type`s that say nothing about whether a part is read.
const DIVISIONS: [&str; 3] = ["frontmatter", "bodymatter", "backmatter"];

impl Semantics<'_> {
    /// Why the part of `path` at `fragment` (None: the document's start), with `types` and
    /// `title`, is front or back matter; None if it is to be read.
    fn front_matter(
        &self,
        path: &str,
        fragment: Option<&str>,
        types: &[String],
        title: &str,
    ) -> Option<String> {
        let here = |target: &Target| {
            target.path.eq_ignore_ascii_case(path)
                && (target.fragment.is_none() || target.fragment.as_deref() == fragment)
        };
        if let Some((kind, name)) = types
            .iter()
            .find_map(|t| matter_kind(t).map(|kind| (kind, t)))
        {
            return Some(format!("{kind} (epub:type {name})"));
        }
        let landmark = self.landmarks.iter().find(|l| here(&l.target));
        if let Some(kind) = landmark.and_then(|l| matter_kind(&l.kind)) {
            return Some(format!("{kind} (landmark)"));
        }
        let guide = self.guide.iter().find(|(_, target)| here(target));
        if let Some(kind) = guide.and_then(|(kind, _)| guide_kind(kind)) {
            return Some(format!("{kind} (OPF guide)"));
        }
        // A guide entry of a type the OPF does not define ("index.xhtml") says nothing.
        let has_semantics = landmark.is_some()
            || guide.is_some_and(|(kind, _)| is_guide_type(kind))
            || types.iter().any(|t| !DIVISIONS.contains(&t.as_str()));
        if has_semantics {
            return None;
        }
        if let Some(kind) = label_kind(title) {
            return Some(format!("{kind} (titled \"{title}\")"));
        }
        let file = path.rsplit('/').next().unwrap_or(path);
        file_kind(file).map(|kind| format!("{kind} (file name {file})"))
    }
}

/// The kind of front or back matter an `epub:type` (or landmark) names; None for the rest.
fn matter_kind(epub_type: &str) -> Option<&'static str> {
    Some(match epub_type {
        "cover" => "cover",
        "titlepage" => "title page",
        "halftitlepage" => "half-title page",
        "toc" | "landmarks" | "page-list" => "table of contents",
        "imprint" => "imprint",
        "copyright-page" => "copyright page",
        "colophon" => "colophon",
        "loi" => "list of illustrations",
        "lot" => "list of tables",
        "index" => "index",
        "endnotes" | "rearnotes" | "footnotes" => "endnotes",
        _ => return None,
    })
}

/// Whether `kind` is a type the OPF 2 guide defines.
fn is_guide_type(kind: &str) -> bool {
    const TYPES: [&str; 17] = [
        "cover",
        "title-page",
        "toc",
        "index",
        "glossary",
        "acknowledgements",
        "bibliography",
        "colophon",
        "copyright-page",
        "dedication",
        "epigraph",
        "foreword",
        "loi",
        "lot",
        "notes",
        "preface",
        "text",
    ];
    TYPES.contains(&kind) || kind.starts_with("other.")
}

/// The kind of front or back matter an OPF guide type names.
fn guide_kind(guide_type: &str) -> Option<&'static str> {
    Some(match guide_type {
        "cover" => "cover",
        "title-page" => "title page",
        "toc" => "table of contents",
        "copyright-page" => "copyright page",
        "colophon" => "colophon",
        "index" => "index",
        "loi" => "list of illustrations",
        "lot" => "list of tables",
        "notes" => "endnotes",
        _ => return None,
    })
}

/// The kind of front or back matter a well-known title names ("Contents", "Copyright").
fn label_kind(title: &str) -> Option<&'static str> {
    let words: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let label = words.split_whitespace().collect::<Vec<_>>().join(" ");
    // Project Gutenberg's books open with its header and close with its licence.
    if label.contains("project gutenberg") {
        return Some(if label.contains("licen") {
            "licence"
        } else {
            "title page"
        });
    }
    Some(match label.as_str() {
        "cover" | "front cover" | "cover page" => "cover",
        "title page" | "titlepage" | "title" | "front page" | "frontpage" => "title page",
        "half title" | "half title page" | "halftitle" => "half-title page",
        "contents" | "table of contents" | "toc" => "table of contents",
        "copyright" | "copyright page" | "copyright notice" => "copyright page",
        "imprint" => "imprint",
        "colophon" => "colophon",
        "license" | "licence" | "uncopyright" => "licence",
        "list of illustrations" | "illustrations" | "list of figures" => "list of illustrations",
        "list of tables" => "list of tables",
        "index" => "index",
        "endnotes" | "notes" | "footnotes" => "endnotes",
        _ => return None,
    })
}

/// The kind of front or back matter a well-known file name names (`cover.xhtml`,
/// `02_copyright.html`).
fn file_kind(file: &str) -> Option<&'static str> {
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    let stem = stem
        .trim_matches(|c: char| c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | ' '))
        .to_ascii_lowercase()
        .replace('_', "-");
    if stem.contains("titlepage") || stem.contains("title-page") {
        return Some("title page");
    }
    Some(match stem.as_str() {
        "cover" | "coverpage" | "cover-page" => "cover",
        "titlepage" | "title-page" | "title" => "title page",
        "halftitle" | "half-title" | "halftitlepage" => "half-title page",
        "toc" | "contents" | "table-of-contents" | "nav" => "table of contents",
        "copyright" | "copyright-page" => "copyright page",
        "imprint" => "imprint",
        "colophon" => "colophon",
        "license" | "licence" | "uncopyright" => "licence",
        "loi" | "illustrations" | "list-of-illustrations" => "list of illustrations",
        "index" => "index",
        "endnotes" | "notes" | "footnotes" => "endnotes",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "../../../tests/it/support/epub.rs"]
#[allow(dead_code)] // the integration tests' book builder, shared with these unit tests
mod build;
#[cfg(test)]
mod tests;
