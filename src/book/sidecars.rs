//! Sidecar files beside the audio, as Audiobookshelf's scanner reads them (in increasing
//! precedence: the audio's tags, `desc.txt`, `reader.txt`, an `.opf` file): `cover.jpg` or
//! `cover.png`, `desc.txt` (the description), `reader.txt` (the narrator) and `metadata.opf`
//! (OPF 2 metadata with calibre's series). Each is written through a temporary file and a
//! rename, only when its bytes change; one this program wrote before and that no longer
//! applies (no description any more, a PNG cover where a JPEG was) is removed. Files of those
//! names that it did not write are never removed: the names it wrote are kept in the queue.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::files::write_if_changed;
use super::meta::BookMeta;

/// The description's sidecar.
pub const DESC: &str = "desc.txt";
/// The narrator's sidecar.
pub const READER: &str = "reader.txt";
/// The OPF metadata sidecar.
pub const OPF: &str = "metadata.opf";

/// What writing the sidecars did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The sidecars there are now, by name.
    pub names: Vec<String>,
    /// How many were (re)written.
    pub changed: usize,
}

/// Writes the sidecars of `book` into `out`, and removes those of `before` (names written by an
/// earlier run) that no longer apply.
pub fn write(out: &Path, book: &BookMeta, before: &[String]) -> std::io::Result<Written> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(cover) = &book.cover {
        files.push((
            format!("cover.{}", cover.kind.extension()),
            cover.bytes.clone(),
        ));
    }
    if let Some(description) = &book.description {
        files.push((DESC.to_owned(), format!("{description}\n").into_bytes()));
    }
    if let Some(narrator) = &book.narrator {
        files.push((READER.to_owned(), format!("{narrator}\n").into_bytes()));
    }
    files.push((OPF.to_owned(), opf(book).into_bytes()));
    let mut written = Written::default();
    for (name, bytes) in &files {
        let path = out.join(name);
        if write_if_changed(&path, |w| w.write_all(bytes))? {
            written.changed += 1;
        }
        written.names.push(name.clone());
    }
    for stale in before.iter().filter(|n| !written.names.contains(n)) {
        // Only our own names: a queue row is no licence to delete anything else.
        if is_sidecar_name(stale) {
            match std::fs::remove_file(out.join(stale)) {
                Ok(()) => written.changed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(written)
}

fn is_sidecar_name(name: &str) -> bool {
    matches!(name, "cover.jpg" | "cover.png" | DESC | READER | OPF)
}

/// The OPF 2 package document: Dublin Core metadata, creators with their MARC roles (`aut`,
/// `nrt`), calibre's series metas right after each other (Audiobookshelf looks for the index
/// just after the series), an ISBN marked with `opf:scheme`.
pub fn opf(book: &BookMeta) -> String {
    let mut m = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"2.0\" unique-identifier=\"book-id\">\n  <metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:opf=\"http://www.idpf.org/2007/opf\">\n",
    );
    let mut element = |tag: &str, attributes: &str, text: &str| {
        m.push_str(&format!(
            "    <{tag}{attributes}>{}</{tag}>\n",
            escape(text)
        ));
    };
    element("dc:title", "", &book.title);
    if let Some(author) = &book.author {
        element("dc:creator", " opf:role=\"aut\"", author);
    }
    if let Some(narrator) = &book.narrator {
        element("dc:creator", " opf:role=\"nrt\"", narrator);
    }
    if let Some(description) = &book.description {
        element("dc:description", "", description);
    }
    if let Some(language) = &book.language {
        element("dc:language", "", language);
    }
    if let Some(publisher) = &book.publisher {
        element("dc:publisher", "", publisher);
    }
    if let Some(date) = &book.date {
        element("dc:date", "", date);
    }
    // OPF 2 needs one identifier the package names; a book without one gets a stable UUID
    // made from its title and author, so the file does not change from run to run.
    let (id, isbn_is_id) = match (&book.identifier, &book.isbn) {
        (Some(id), Some(isbn)) => (id.clone(), id.contains(isbn.as_str())),
        (Some(id), None) => (id.clone(), false),
        (None, Some(isbn)) => (isbn.clone(), true),
        (None, None) => (stable_uuid(book), false),
    };
    let scheme = if isbn_is_id {
        " opf:scheme=\"ISBN\""
    } else {
        ""
    };
    element(
        "dc:identifier",
        &format!(" id=\"book-id\"{scheme}"),
        if isbn_is_id {
            book.isbn.as_deref().unwrap_or(&id)
        } else {
            &id
        },
    );
    if let (Some(isbn), false) = (&book.isbn, isbn_is_id) {
        element("dc:identifier", " opf:scheme=\"ISBN\"", isbn);
    }
    if let Some(series) = &book.series {
        m.push_str(&format!(
            "    <meta name=\"calibre:series\" content=\"{}\"/>\n",
            escape(&series.name)
        ));
        if let Some(index) = &series.index {
            m.push_str(&format!(
                "    <meta name=\"calibre:series_index\" content=\"{}\"/>\n",
                escape(index)
            ));
        }
    }
    m.push_str("  </metadata>\n</package>\n");
    m
}

/// `urn:uuid:` from a hash of the title and author, laid out as a version 5 style UUID.
fn stable_uuid(book: &BookMeta) -> String {
    let mut h = Sha256::new();
    h.update(book.title.as_bytes());
    h.update([0]);
    h.update(book.author.as_deref().unwrap_or("").as_bytes());
    let mut b: [u8; 16] = [0; 16];
    b.copy_from_slice(&h.finalize()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// XML text and attribute escaping.
fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            // Characters XML 1.0 cannot hold are dropped, not escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::meta::tests::full_book;

    #[test]
    fn opf_is_xml_with_the_fields_audiobookshelf_reads() {
        let book = full_book();
        let text = opf(&book);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let dc = "http://purl.org/dc/elements/1.1/";
        let opf_ns = "http://www.idpf.org/2007/opf";
        let find = |name: &str| {
            doc.descendants()
                .filter(|n| n.tag_name().namespace() == Some(dc) && n.tag_name().name() == name)
                .map(|n| {
                    (
                        n.attribute((opf_ns, "role"))
                            .or(n.attribute((opf_ns, "scheme"))),
                        n.text().unwrap_or_default().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(find("title")[0].1, book.title);
        assert_eq!(
            find("creator"),
            [
                (Some("aut"), "Lewis Carroll".to_owned()),
                (Some("nrt"), "Ann Reader".to_owned())
            ]
        );
        assert_eq!(find("description")[0].1, book.description.clone().unwrap());
        assert_eq!(find("language")[0].1, "en");
        assert_eq!(find("publisher")[0].1, "Macmillan");
        assert_eq!(find("date")[0].1, "1865-11-26");
        assert_eq!(
            find("identifier"),
            [(Some("ISBN"), "9780141439761".to_owned())]
        );
        let metas: Vec<(&str, &str)> = doc
            .descendants()
            .filter(|n| n.has_tag_name((opf_ns, "meta")))
            .map(|n| {
                (
                    n.attribute("name").unwrap(),
                    n.attribute("content").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            metas,
            [("calibre:series", "Alice"), ("calibre:series_index", "1")]
        );
        // A book with no identifier gets the same made-up one every time.
        let bare = BookMeta {
            title: "T & <U>".into(),
            ..BookMeta::default()
        };
        assert_eq!(opf(&bare), opf(&bare));
        assert!(opf(&bare).contains("T &amp; &lt;U&gt;") && opf(&bare).contains("urn:uuid:"));
    }

    #[test]
    fn writes_only_changes_and_removes_its_own_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let book = full_book();
        let first = write(dir.path(), &book, &[]).unwrap();
        assert_eq!(
            first.names,
            ["cover.jpg", "desc.txt", "reader.txt", "metadata.opf"]
        );
        assert_eq!(first.changed, 4);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("reader.txt")).unwrap(),
            "Ann Reader\n"
        );
        let again = write(dir.path(), &book, &first.names).unwrap();
        assert_eq!(again.changed, 0);
        // The description is gone: desc.txt goes; a file of the user's own stays.
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let plain = BookMeta {
            description: None,
            ..book
        };
        let mut before = again.names.clone();
        before.push("notes.txt".into());
        let third = write(dir.path(), &plain, &before).unwrap();
        assert!(!dir.path().join("desc.txt").exists());
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(third.changed, 2, "metadata.opf rewritten, desc.txt removed");
    }
}
