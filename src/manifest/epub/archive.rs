//! The EPUB's zip archive: finding entries by the paths the book's documents use, reading them
//! within size limits, and refusing encrypted (DRM) books.
//!
//! Nothing here trusts a size the archive declares: every entry is read through `take()` with a
//! limit, and the amount actually read is what the limits (per entry, in total, and the ratio
//! to the entry's compressed size) are checked against. Paths are resolved the way a reading
//! system resolves a relative URL (`../`, `./`, percent-encoding), and one that climbs above
//! the archive's root is refused.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use roxmltree::{Document, ParsingOptions};
use zip::ZipArchive;
use zip::result::ZipError;

use super::EpubError;

/// Enough nodes for any real package document; a bound on what a hostile one can make us build.
const NODES_LIMIT: u32 = 4_000_000;

/// Parses `text` (the file `path` in the archive) as XML. DTDs are allowed (EPUB 2 documents
/// carry the XHTML one); roxmltree bounds entity expansion.
pub(super) fn parse_xml<'t>(path: &str, text: &'t str) -> Result<Document<'t>, EpubError> {
    let options = ParsingOptions {
        allow_dtd: true,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| EpubError::InvalidXml {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Most bytes one entry may inflate to. Content documents are rarely over a few MiB and cover
/// images rarely over 20 MiB.
const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes the whole book may inflate to, over every entry read.
const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;
/// Entries larger than this must not inflate more than [`MAX_RATIO`] times their compressed
/// size. Real XHTML deflates 3 to 10 times; a deflate bomb approaches 1000.
const RATIO_FLOOR_BYTES: u64 = 1024 * 1024;
const MAX_RATIO: u64 = 100;

/// Font obfuscation: the only encryption an EPUB may carry and still be read.
const FONT_OBFUSCATION: [&str; 2] = [
    "http://www.idpf.org/2008/embedding",
    "http://ns.adobe.com/pdf/enc#RC",
];

/// An opened EPUB archive.
pub(super) struct Archive<'b> {
    zip: ZipArchive<Cursor<&'b [u8]>>,
    /// Normalised entry name → entry index.
    names: HashMap<String, usize>,
    /// Lowercased normalised entry name → entry index, for books whose links differ from their
    /// file names in case only (they work on case-insensitive file systems).
    folded: HashMap<String, usize>,
    /// Bytes inflated so far.
    total: u64,
}

impl<'b> Archive<'b> {
    /// Opens `bytes` as a zip archive.
    pub(super) fn open(bytes: &'b [u8]) -> Result<Self, EpubError> {
        let zip = ZipArchive::new(Cursor::new(bytes)).map_err(|_| EpubError::NotZip)?;
        let mut names = HashMap::with_capacity(zip.len());
        let mut folded = HashMap::with_capacity(zip.len());
        for index in 0..zip.len() {
            let Some(Ok(name)) = zip.name_for_index(index) else {
                continue;
            };
            let name = normalize_entry_name(&name);
            folded.entry(name.to_lowercase()).or_insert(index);
            names.entry(name).or_insert(index);
        }
        Ok(Archive {
            zip,
            names,
            folded,
            total: 0,
        })
    }

    /// Whether the archive holds `path` (already resolved).
    pub(super) fn contains(&self, path: &str) -> bool {
        self.index(path).is_some()
    }

    fn index(&self, path: &str) -> Option<usize> {
        self.names
            .get(path)
            .or_else(|| self.folded.get(&path.to_lowercase()))
            .copied()
    }

    /// The entry at `path`, or None if there is none.
    pub(super) fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, EpubError> {
        let Some(index) = self.index(path) else {
            return Ok(None);
        };
        let zip_err = |e: ZipError| EpubError::Entry {
            path: path.to_owned(),
            reason: zip_reason(&e),
        };
        let entry = self.zip.by_index(index).map_err(zip_err)?;
        if entry.encrypted() {
            return Err(EpubError::Drm(path.to_owned()));
        }
        let compressed = entry.compressed_size();
        let room = MAX_TOTAL_BYTES.saturating_sub(self.total);
        let limit = MAX_ENTRY_BYTES.min(room);
        let mut bytes = Vec::new();
        entry
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| EpubError::Entry {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if read > limit {
            let what = if limit < MAX_ENTRY_BYTES {
                format!(
                    "the book inflates to more than {} MiB",
                    MAX_TOTAL_BYTES >> 20
                )
            } else {
                format!(
                    "`{path}` inflates to more than {} MiB",
                    MAX_ENTRY_BYTES >> 20
                )
            };
            return Err(EpubError::ZipBomb(what));
        }
        if read > RATIO_FLOOR_BYTES && read / compressed.max(1) > MAX_RATIO {
            return Err(EpubError::ZipBomb(format!(
                "`{path}` inflates {}:1",
                read / compressed.max(1)
            )));
        }
        self.total = self.total.saturating_add(read);
        Ok(Some(bytes))
    }

    /// Refuses a book with `META-INF/encryption.xml` that encrypts anything with an algorithm
    /// other than font obfuscation.
    pub(super) fn check_encryption(&mut self) -> Result<(), EpubError> {
        const PATH: &str = "META-INF/encryption.xml";
        let Some(bytes) = self.read(PATH)? else {
            return Ok(());
        };
        let text = super::decode::decode(PATH, &bytes);
        let doc = parse_xml(PATH, &text)?;
        for data in doc
            .descendants()
            .filter(|n| n.tag_name().name() == "EncryptedData")
        {
            let algorithm = data
                .descendants()
                .find(|n| n.tag_name().name() == "EncryptionMethod")
                .and_then(|n| n.attribute("Algorithm"))
                .unwrap_or_default();
            if FONT_OBFUSCATION.contains(&algorithm) {
                continue;
            }
            let target = data
                .descendants()
                .find(|n| n.tag_name().name() == "CipherReference")
                .and_then(|n| n.attribute("URI"))
                .unwrap_or(PATH);
            return Err(EpubError::Drm(target.to_owned()));
        }
        Ok(())
    }
}

/// The text of a zip error as one lowercase line.
fn zip_reason(e: &ZipError) -> String {
    let text = e.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// An entry name as stored, made comparable with resolved paths: `\` as `/`, no leading `/`
/// or `./`.
fn normalize_entry_name(name: &str) -> String {
    let name = name.replace('\\', "/");
    let mut rest = name.as_str();
    loop {
        if let Some(r) = rest.strip_prefix('/') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else {
            break;
        }
    }
    rest.to_owned()
}

/// The directory part of an archive path, with its trailing `/` ("" for the root).
pub(super) fn directory(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..=slash])
}

/// A link target inside the archive: the entry's path and the fragment, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) path: String,
    pub(super) fragment: Option<String>,
}

/// Resolves `href` (a relative URL, possibly percent-encoded) against the directory `base`
/// (as [`directory`] gives it). Returns Ok(None) for links out of the book (`http:`,
/// `mailto:`, ...), and an error for a path that climbs above the archive's root.
pub(super) fn resolve(base: &str, href: &str) -> Result<Option<Target>, EpubError> {
    let href = href.trim();
    let (rest, fragment) = match href.split_once('#') {
        Some((rest, fragment)) => (rest, Some(decode(fragment))),
        None => (href, None),
    };
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    if has_scheme(rest) {
        return Ok(None);
    }
    let decoded = decode(rest);
    let joined = if decoded.is_empty() {
        // "#id" alone: the document itself.
        base.trim_end_matches('/').to_owned()
    } else if let Some(absolute) = decoded.strip_prefix('/') {
        absolute.to_owned()
    } else {
        format!("{base}{decoded}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(EpubError::OutsideArchive(href.to_owned()));
                }
            }
            part => parts.push(part),
        }
    }
    Ok(Some(Target {
        path: parts.join("/"),
        fragment: fragment.filter(|f| !f.is_empty()),
    }))
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether `href` starts with a URL scheme (`https:`, `mailto:`), i.e. leaves the book.
fn has_scheme(href: &str) -> bool {
    let Some(colon) = href.find(':') else {
        return false;
    };
    let scheme = &href[..colon];
    scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(base: &str, href: &str) -> Option<Target> {
        resolve(base, href).unwrap()
    }

    #[test]
    fn relative_links_resolve_like_urls() {
        let t = target("OEBPS/text/", "../images/a%20b.jpg").unwrap();
        assert_eq!(t.path, "OEBPS/images/a b.jpg");
        let t = target("OEBPS/", "./text/ch1.xhtml#s%C3%A9").unwrap();
        assert_eq!(t.path, "OEBPS/text/ch1.xhtml");
        assert_eq!(t.fragment.as_deref(), Some("sé"));
        assert_eq!(target("", "/x.xhtml").unwrap().path, "x.xhtml");
        assert_eq!(target("a/", "https://example.org/x"), None);
        assert_eq!(target("a/", "mailto:x@y"), None);
    }

    #[test]
    fn a_path_above_the_root_is_refused() {
        let err = resolve("OEBPS/", "../../etc/passwd").unwrap_err();
        assert_eq!(
            err.to_string(),
            "path `../../etc/passwd` leaves the archive"
        );
    }

    #[test]
    fn entry_names_are_normalised() {
        assert_eq!(normalize_entry_name("./OEBPS\\a.xhtml"), "OEBPS/a.xhtml");
        assert_eq!(normalize_entry_name("/mimetype"), "mimetype");
        assert_eq!(directory("OEBPS/content.opf"), "OEBPS/");
        assert_eq!(directory("content.opf"), "");
    }
}
