//! EPUB 2 books for tests, built with the `zip` writer: an NCX table of contents, no nav
//! document and no `epub:type` anywhere, as older books and many converters make them.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// One document of a test book and its table-of-contents entries.
#[derive(Debug, Clone)]
pub struct TestDoc {
    /// File name inside `OEBPS/`.
    pub file: String,
    /// The whole document as stored.
    pub source: String,
    /// (depth, label, `#fragment` or "") entries pointing into this document.
    pub entries: Vec<(usize, String, String)>,
}

/// An EPUB 2 book under construction.
#[derive(Debug, Clone)]
pub struct TestBook {
    pub title: String,
    pub author: String,
    pub language: String,
    pub docs: Vec<TestDoc>,
    /// JPEG bytes of a cover, declared with `<meta name="cover">`.
    pub cover: Option<Vec<u8>>,
    /// OPF `<guide>` references: (type, file).
    pub guide: Vec<(String, String)>,
}

/// An XHTML 1.1 document (as EPUB 2 books have them) with `body` as its body.
pub fn xhtml(title: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><title>{title}</title><link rel="stylesheet" href="style.css" type="text/css"/></head>
<body>
{body}
</body>
</html>
"#
    )
}

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl TestBook {
    /// An empty book.
    pub fn new(title: &str) -> Self {
        TestBook {
            title: title.to_owned(),
            author: "A. Writer".to_owned(),
            language: "en".to_owned(),
            docs: Vec::new(),
            cover: None,
            guide: Vec::new(),
        }
    }

    /// Adds a document with `body`, listed in the table of contents as `label` (not listed if
    /// `label` is empty).
    pub fn doc(self, file: &str, label: &str, body: &str) -> Self {
        let source = xhtml(label, body);
        self.raw(file, label, &source)
    }

    /// Adds a document stored exactly as `source`.
    pub fn raw(mut self, file: &str, label: &str, source: &str) -> Self {
        let entries = if label.is_empty() {
            Vec::new()
        } else {
            vec![(1, label.to_owned(), String::new())]
        };
        self.docs.push(TestDoc {
            file: file.to_owned(),
            source: source.to_owned(),
            entries,
        });
        self
    }

    /// Adds a chapter: a heading and paragraphs.
    pub fn chapter(self, file: &str, title: &str, paragraphs: &[&str]) -> Self {
        let mut body = format!("<h2>{}</h2>\n", escape(title));
        for p in paragraphs {
            body.push_str(&format!("<p>{p}</p>\n"));
        }
        self.doc(file, title, &body)
    }

    /// Adds a table-of-contents entry at `depth` pointing at `#fragment` (or the start, for
    /// "") of the last document.
    pub fn entry(mut self, depth: usize, label: &str, fragment: &str) -> Self {
        if let Some(doc) = self.docs.last_mut() {
            doc.entries
                .push((depth, label.to_owned(), fragment.to_owned()));
        }
        self
    }

    /// Adds an OPF `<guide>` reference of `kind` to the last document.
    pub fn guide(mut self, kind: &str) -> Self {
        if let Some(doc) = self.docs.last() {
            self.guide.push((kind.to_owned(), doc.file.clone()));
        }
        self
    }

    /// Sets a cover image.
    pub fn cover(mut self, jpeg: &[u8]) -> Self {
        self.cover = Some(jpeg.to_vec());
        self
    }

    /// The package document.
    pub fn opf(&self) -> String {
        let mut manifest = String::from(
            r#"<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>"#,
        );
        let mut spine = String::new();
        for (i, doc) in self.docs.iter().enumerate() {
            manifest.push_str(&format!(
                "\n    <item id=\"d{i}\" href=\"{}\" media-type=\"application/xhtml+xml\"/>",
                escape(&doc.file)
            ));
            spine.push_str(&format!("\n    <itemref idref=\"d{i}\"/>"));
        }
        let mut cover_meta = String::new();
        if self.cover.is_some() {
            manifest.push_str(
                "\n    <item id=\"cover-img\" href=\"images/cover.jpg\" media-type=\"image/jpeg\"/>",
            );
            cover_meta = r#"<meta name="cover" content="cover-img"/>"#.to_owned();
        }
        let mut guide = String::new();
        for (kind, file) in &self.guide {
            guide.push_str(&format!(
                "<reference type=\"{}\" title=\"x\" href=\"{}\"/>",
                escape(kind),
                escape(file)
            ));
        }
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:title>{title}</dc:title>
    <dc:creator opf:role="aut">{author}</dc:creator>
    <dc:language>{language}</dc:language>
    <dc:identifier id="id">test-book</dc:identifier>
    {cover_meta}
  </metadata>
  <manifest>
    {manifest}
  </manifest>
  <spine toc="ncx">{spine}
  </spine>
  <guide>{guide}</guide>
</package>
"#,
            title = escape(&self.title),
            author = escape(&self.author),
            language = escape(&self.language),
        )
    }

    /// The NCX, nesting entries by depth.
    pub fn ncx(&self) -> String {
        let mut points = String::new();
        let mut open = 0usize;
        let mut n = 0usize;
        for doc in &self.docs {
            for (depth, label, fragment) in &doc.entries {
                while open >= *depth {
                    points.push_str("</navPoint>\n");
                    open -= 1;
                }
                n += 1;
                points.push_str(&format!(
                    "<navPoint id=\"p{n}\" playOrder=\"{n}\"><navLabel><text>{}</text></navLabel><content src=\"{}{}\"/>\n",
                    escape(label),
                    escape(&doc.file),
                    escape(fragment)
                ));
                open += 1;
            }
        }
        for _ in 0..open {
            points.push_str("</navPoint>\n");
        }
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
  <head><meta name="dtb:uid" content="test-book"/></head>
  <docTitle><text>{}</text></docTitle>
  <navMap>
{points}  </navMap>
</ncx>
"#,
            escape(&self.title)
        )
    }

    /// Every file of the book: (path in the archive, bytes), `mimetype` first.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            ("mimetype".to_owned(), b"application/epub+zip".to_vec()),
            (
                "META-INF/container.xml".to_owned(),
                br#"<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"#
                .to_vec(),
            ),
            ("OEBPS/content.opf".to_owned(), self.opf().into_bytes()),
            ("OEBPS/toc.ncx".to_owned(), self.ncx().into_bytes()),
        ];
        for doc in &self.docs {
            files.push((
                format!("OEBPS/{}", doc.file),
                doc.source.clone().into_bytes(),
            ));
        }
        if let Some(cover) = &self.cover {
            files.push(("OEBPS/images/cover.jpg".to_owned(), cover.clone()));
        }
        files
    }

    /// The book as EPUB bytes.
    pub fn build(&self) -> Vec<u8> {
        zip(&self.files())
    }
}

/// A zip archive of `files`: `mimetype` stored, the rest deflated, in the order given.
pub fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in files {
        let method = if name == "mimetype" {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(bytes.len() > u32::MAX as usize);
        writer.start_file(name.as_str(), options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A book of `chapters` chapters of a few paragraphs each, for measuring.
pub fn generated(chapters: usize) -> TestBook {
    let mut book = TestBook::new("A Long Book");
    let paragraph = "It was a bright cold day in April, and the clocks were striking thirteen. \
                     Winston Smith, his chin nuzzled into his breast in an effort to escape the \
                     vile wind, slipped quickly through the glass doors of Victory Mansions.";
    for n in 1..=chapters {
        book = book.chapter(
            &format!("chapter-{n:04}.xhtml"),
            &format!("Chapter {n}"),
            &[paragraph, paragraph, paragraph, paragraph],
        );
    }
    book
}
