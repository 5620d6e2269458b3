use super::build::{self, TestBook, xhtml};
use super::*;

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("the test corpus must be at {}: {e}", path.display()))
}

fn default() -> EpubOptions {
    EpubOptions::default()
}

fn kept_titles(book: &Book) -> Vec<&str> {
    book.chapters
        .iter()
        .filter(|c| c.kept)
        .map(|c| c.title.as_str())
        .collect()
}

fn kept_texts(book: &Book) -> Vec<&str> {
    book.chapters
        .iter()
        .filter(|c| c.kept)
        .map(|c| c.text.as_str())
        .collect()
}

fn left_out(book: &Book) -> Vec<(&str, &str)> {
    book.chapters
        .iter()
        .filter(|c| !c.kept)
        .map(|c| (c.title.as_str(), c.reason.as_deref().unwrap_or("")))
        .collect()
}

fn error(bytes: &[u8]) -> String {
    read(bytes, &default()).unwrap_err().to_string()
}

#[test]
fn jekyll_and_hyde_has_its_ten_chapters_in_order_without_front_and_back_matter() {
    let book = read(&corpus("jekyll-hyde.epub"), &default()).unwrap();
    assert_eq!(
        kept_titles(&book),
        [
            "Story of the Door",
            "Search for Mr. Hyde",
            "Dr. Jekyll Was Quite at Ease",
            "The Carew Murder Case",
            "Incident of the Letter",
            "Remarkable Incident of Dr. Lanyon",
            "Incident at the Window",
            "The Last Night",
            "Dr. Lanyon’s Narrative",
            "Henry Jekyll’s Full Statement of the Case",
        ]
    );
    assert_eq!(
        left_out(&book),
        [
            ("Titlepage", "title page (epub:type titlepage)"),
            ("Imprint", "imprint (epub:type imprint)"),
            ("Colophon", "colophon (epub:type colophon)"),
            ("Uncopyright", "copyright page (epub:type copyright-page)"),
        ]
    );
    let first = book.chapters.iter().find(|c| c.kept).unwrap();
    assert_eq!(first.href, "epub/text/chapter-1.xhtml");
    assert!(
        first
            .text
            .starts_with("Story of the Door\n\nMr. Utterson the lawyer was a man")
    );
    for chapter in &book.chapters {
        assert!(!chapter.text.contains(['\u{2060}', '\u{ad}', '<', '>']));
        assert!(!chapter.text.contains("\n\n\n"));
        assert_eq!(chapter.text.trim(), chapter.text);
    }
    // Standard Ebooks joins dashes with word joiners: "asleep⁠—street" reads as one.
    assert!(book.chapters[2].text.contains("asleep—street"));

    let meta = &book.metadata;
    assert_eq!(
        meta.title.as_deref(),
        Some("The Strange Case of Dr. Jekyll and Mr. Hyde")
    );
    assert_eq!(meta.authors, ["Robert Louis Stevenson"]);
    assert_eq!(meta.language.as_deref(), Some("en-GB"));
    let cover = meta.cover.as_ref().unwrap();
    assert_eq!(cover.media_type, "image/jpeg");
    assert!(cover.bytes.len() > 1000);
}

#[test]
fn front_matter_is_kept_on_request() {
    let book = read(
        &corpus("jekyll-hyde.epub"),
        &EpubOptions {
            keep_front_matter: true,
            read_code: false,
        },
    )
    .unwrap();
    assert_eq!(book.chapters.len(), 14);
    assert!(book.chapters.iter().all(|c| c.kept && c.reason.is_none()));
    assert!(
        book.chapters[0].text.starts_with(
            "The Strange Case of Dr. Jekyll and Mr. Hyde\n\nBy Robert Louis Stevenson."
        )
    );
}

/// A book as old converters make it: EPUB 2, an NCX, no epub:type, front matter known only by
/// its title, file name or emptiness.
fn plain_book() -> TestBook {
    TestBook::new("The Plain Book")
        .doc(
            "cover.xhtml",
            "",
            r#"<div><img src="images/cover.jpg" alt="Cover"/></div>"#,
        )
        .doc(
            "title.xhtml",
            "Title Page",
            "<h1>The Plain Book</h1><p>by A. Writer</p>",
        )
        .doc(
            "contents.xhtml",
            "Contents",
            r#"<h2>Contents</h2><p><a href="ch1.xhtml">One</a></p>"#,
        )
        .chapter(
            "ch1.xhtml",
            "Chapter 1: The Start",
            &["It began.", "It went on."],
        )
        .chapter("ch2.xhtml", "Chapter 2: The End", &["It ended."])
        .doc(
            "copyright.xhtml",
            "",
            "<p>Copyright 2001 A. Writer. All rights reserved.</p>",
        )
        .cover(b"\xff\xd8\xff\xe0fake jpeg")
}

#[test]
fn an_epub2_book_without_semantics_is_read_by_its_ncx_titles_and_file_names() {
    let book = read(&plain_book().build(), &default()).unwrap();
    assert_eq!(
        kept_titles(&book),
        ["Chapter 1: The Start", "Chapter 2: The End"]
    );
    assert_eq!(
        left_out(&book),
        [
            ("", "cover (file name cover.xhtml)"),
            ("Title Page", "title page (titled \"Title Page\")"),
            ("Contents", "table of contents (titled \"Contents\")"),
            ("", "copyright page (file name copyright.xhtml)"),
        ]
    );
    let ch1 = book.chapters.iter().find(|c| c.kept).unwrap();
    assert_eq!(ch1.text, "Chapter 1: The Start\n\nIt began.\n\nIt went on.");
    assert_eq!(ch1.href, "OEBPS/ch1.xhtml");
    assert_eq!(book.metadata.title.as_deref(), Some("The Plain Book"));
    assert_eq!(book.metadata.authors, ["A. Writer"]);
    assert_eq!(book.metadata.language.as_deref(), Some("en"));
    assert_eq!(
        book.metadata.cover.as_ref().map(|c| c.media_type.as_str()),
        Some("image/jpeg")
    );

    let all = read(
        &plain_book().build(),
        &EpubOptions {
            keep_front_matter: true,
            read_code: false,
        },
    )
    .unwrap();
    assert_eq!(all.chapters.iter().filter(|c| c.kept).count(), 5);
    assert_eq!(left_out(&all), [("", "no text")]);
}

#[test]
fn a_document_the_toc_splits_by_fragment_is_one_chapter_per_entry() {
    // One file holding three chapters (as Project Gutenberg's single-file books), the second
    // with sections listed under it.
    let body = concat!(
        "<h1>The Book</h1><p>Preface.</p>",
        "<h2 id=\"c1\">Chapter I</h2><p>One.</p>",
        "<h2 id=\"c2\">Chapter II</h2><p>Two.</p><h3 id=\"s1\">A section</h3><p>More two.</p>",
        "<div id=\"c3\"><h2>Chapter III</h2><p>Three.</p></div>",
    );
    let bytes = TestBook::new("Split")
        .doc("book.xhtml", "", body)
        .entry(1, "Chapter I", "#c1")
        .entry(1, "Chapter II", "#c2")
        .entry(2, "A section", "#s1")
        .entry(1, "Chapter III", "#c3")
        .build();
    let book = read(&bytes, &default()).unwrap();
    let got: Vec<(&str, &str, &str)> = book
        .chapters
        .iter()
        .map(|c| (c.title.as_str(), c.href.as_str(), c.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "Chapter I",
                "OEBPS/book.xhtml",
                "The Book\n\nPreface.\n\nChapter I\n\nOne."
            ),
            (
                "Chapter II",
                "OEBPS/book.xhtml#c2",
                "Chapter II\n\nTwo.\n\nA section\n\nMore two."
            ),
            (
                "Chapter III",
                "OEBPS/book.xhtml#c3",
                "Chapter III\n\nThree."
            ),
        ]
    );
}

#[test]
fn parts_with_chapters_in_their_own_files_keep_a_chapter_per_file() {
    let bytes = TestBook::new("Parts")
        .doc("part1.xhtml", "Part One", "<h1>Part One</h1>")
        .chapter("ch1.xhtml", "Chapter 1", &["One."])
        .chapter("ch2.xhtml", "Chapter 2", &["Two."])
        .doc("part2.xhtml", "Part Two", "<h1>Part Two</h1>")
        .chapter("ch3.xhtml", "Chapter 3", &["Three."])
        .build();
    // A part's page that is only its heading is no chapter (as in Markdown).
    let book = read(&bytes, &default()).unwrap();
    assert_eq!(kept_titles(&book), ["Chapter 1", "Chapter 2", "Chapter 3"]);
    assert_eq!(
        left_out(&book),
        [
            ("Part One", "only a heading"),
            ("Part Two", "only a heading")
        ]
    );
    let nested = TestBook::new("Parts")
        .doc(
            "part1.xhtml",
            "Part One",
            "<h1>Part One</h1><blockquote><p>An epigraph.</p></blockquote>",
        )
        .raw(
            "ch1.xhtml",
            "",
            &xhtml("c", "<h2>Chapter 1</h2><p>One.</p>"),
        )
        .entry(2, "Chapter 1", "")
        .raw(
            "ch2.xhtml",
            "",
            &xhtml(
                "c",
                "<h2>Chapter 2</h2><p>Two.</p><h3 id=\"s\">Sub</h3><p>x</p>",
            ),
        )
        .entry(2, "Chapter 2", "")
        .entry(3, "Sub", "#s")
        .build();
    // Chapters listed under their parts, sections under the chapters: still a chapter per
    // file, and the sections do not cut them.
    assert_eq!(
        kept_titles(&read(&nested, &default()).unwrap()),
        ["Part One", "Chapter 1", "Chapter 2"]
    );
}

#[test]
fn the_opf_guide_and_linear_no_leave_documents_out() {
    let book = TestBook::new("Guided")
        .doc(
            "dedication.xhtml",
            "For M.",
            "<p>For M., who knows why.</p>",
        )
        .doc("legal.xhtml", "Legal", "<p>All rights reserved.</p>")
        .guide("copyright-page")
        .chapter("a.xhtml", "One", &["Words."])
        .doc("extra.xhtml", "Extra", "<p>Aside.</p>");
    let mut files = book.files();
    files[2].1 = String::from_utf8(files[2].1.clone())
        .unwrap()
        .replace("idref=\"d3\"", "idref=\"d3\" linear=\"no\"")
        .into_bytes();
    let book = read(&build::zip(&files), &default()).unwrap();
    assert_eq!(kept_titles(&book), ["For M.", "One"]);
    assert_eq!(
        left_out(&book),
        [
            ("Legal", "copyright page (OPF guide)"),
            ("Extra", "outside the reading order (linear=\"no\")"),
        ]
    );
}

#[test]
fn notes_marked_without_semantics_are_not_read() {
    let bytes = TestBook::new("Notes")
        .chapter(
            "a.xhtml",
            "One",
            &[
                "A claim<sup><a href=\"notes.xhtml#n1\" id=\"r1\">1</a></sup> and another<a href=\"notes.xhtml#n2\"><sup>[2]</sup></a>. See <a href=\"b.xhtml#x\">the next chapter</a>.",
            ],
        )
        .doc(
            "notes.xhtml",
            "Notes",
            "<h2>Notes</h2><p id=\"n1\">1. Source.</p><p id=\"n2\">2. Another.</p>",
        )
        .build();
    let book = read(&bytes, &default()).unwrap();
    assert_eq!(
        book.chapters[0].text,
        "One\n\nA claim and another. See the next chapter."
    );
    assert_eq!(left_out(&book), [("Notes", "endnotes (titled \"Notes\")")]);
}

#[test]
fn a_chapter_without_a_heading_is_announced_by_its_title() {
    let bytes = TestBook::new("No headings")
        .doc("a.xhtml", "The Beginning", "<p>Once upon a time.</p>")
        .build();
    let book = read(&bytes, &default()).unwrap();
    assert_eq!(book.chapters[0].text, "The Beginning\n\nOnce upon a time.");
}

#[test]
fn what_real_books_do_is_tolerated() {
    // HTML entities without a DTD that declares them, unclosed tags, a percent-encoded and
    // `../` path, an NCX missing from the archive, zip entries in any order.
    let soup = "<html><head><title>Soup</title></head><body><h2>Caf&eacute;&nbsp;Days</h2><p>One&mdash;two<p>Three<br>four</body></html>";
    let book = TestBook::new("Tolerant")
        .raw("text/My Chapter.xhtml", "", soup)
        .chapter("text/b.xhtml", "B", &["Bee."]);
    let mut files = book.files();
    let opf = String::from_utf8(files[2].1.clone()).unwrap().replace(
        "href=\"text/My Chapter.xhtml\"",
        "href=\"text/../text/My%20Chapter.xhtml\"",
    );
    files[2].1 = opf.into_bytes();
    files.retain(|(name, _)| name != "OEBPS/toc.ncx");
    files.reverse();
    let book = read(&build::zip(&files), &default()).unwrap();
    assert_eq!(kept_titles(&book), ["Café Days", "B"]);
    assert_eq!(book.chapters[0].text, "Café Days\n\nOne—two\n\nThree\nfour");
}

#[test]
fn font_obfuscation_is_not_drm() {
    let mut files = plain_book().files();
    files.push((
        "META-INF/encryption.xml".into(),
        br#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/>
  <enc:CipherData><enc:CipherReference URI="OEBPS/fonts/a.otf"/></enc:CipherData></enc:EncryptedData>
</encryption>"#
            .to_vec(),
    ));
    assert!(read(&build::zip(&files), &default()).is_ok());
}

#[test]
fn bad_epubs_are_refused_with_one_line_saying_why() {
    assert!(error(b"plain text, not a zip").starts_with("not an EPUB: not a zip archive"));

    let without = |path: &str| {
        let mut files = plain_book().files();
        files.retain(|(name, _)| name != path);
        build::zip(&files)
    };
    let replaced = |path: &str, bytes: &[u8]| {
        let mut files = plain_book().files();
        for file in &mut files {
            if file.0 == path {
                file.1 = bytes.to_vec();
            }
        }
        build::zip(&files)
    };
    assert_eq!(
        error(&without("META-INF/container.xml")),
        "not an EPUB: no META-INF/container.xml"
    );
    assert_eq!(
        error(&without("OEBPS/content.opf")),
        "no package document: `OEBPS/content.opf` is not in the archive"
    );
    assert_eq!(
        error(&without("OEBPS/ch2.xhtml")),
        "spine entry `OEBPS/ch2.xhtml` is missing"
    );
    let opf = plain_book().opf();
    assert_eq!(
        error(&replaced(
            "OEBPS/content.opf",
            opf.replace("<itemref idref=\"d3\"/>", "<itemref idref=\"nowhere\"/>")
                .as_bytes()
        )),
        "spine entry `nowhere` is missing"
    );
    let broken = error(&replaced(
        "OEBPS/content.opf",
        opf.replace("</manifest>", "").as_bytes(),
    ));
    assert!(
        broken.starts_with("invalid XML in `OEBPS/content.opf`: "),
        "{broken}"
    );
    assert_eq!(
        error(&replaced(
            "OEBPS/content.opf",
            opf.replace("href=\"ch1.xhtml\"", "href=\"../../ch1.xhtml\"")
                .as_bytes()
        )),
        "path `../../ch1.xhtml` leaves the archive"
    );

    let mut files = plain_book().files();
    files.push((
        "META-INF/encryption.xml".into(),
        br#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
  <enc:CipherData><enc:CipherReference URI="OEBPS/ch1.xhtml"/></enc:CipherData></enc:EncryptedData>
</encryption>"#
            .to_vec(),
    ));
    assert_eq!(
        error(&build::zip(&files)),
        "the book is DRM-protected: `OEBPS/ch1.xhtml` is encrypted"
    );

    // 8 MiB of one repeated byte: deflates to a few KiB.
    let bomb = replaced("OEBPS/ch1.xhtml", &vec![b' '; 8 << 20]);
    let message = error(&bomb);
    assert!(
        message.starts_with("refused as a zip bomb: `OEBPS/ch1.xhtml` inflates "),
        "{message}"
    );
    for message in [error(b"x"), error(&bomb)] {
        assert!(!message.contains('\n'));
        assert!(message.starts_with(|c: char| !c.is_uppercase()));
    }
}

#[test]
fn a_thousand_chapters_read_quickly() {
    let bytes = build::generated(1000).build();
    let started = std::time::Instant::now();
    let book = read(&bytes, &default()).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(kept_titles(&book).len(), 1000);
    assert_eq!(book.chapters[999].title, "Chapter 1000");
    // A figure to note, not an assertion: timing depends on the machine.
    eprintln!(
        "read a 1,000-chapter EPUB ({} KiB) in {:.3} s",
        bytes.len() / 1024,
        elapsed.as_secs_f64()
    );
}

mod arbitrary {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any text as a chapter, well-formed or not: a book or an error, never a panic.
        #[test]
        fn any_chapter_text_never_panics(body in r#"[a-z <>/&;#="'!\-\n]{0,200}|(<(p|a|sup|hgroup|h2|table|tr|td|br|span|section)( (id|href|epub:type)="[a-z#0-9]{0,4}")?/?>|</(p|a|sup|hgroup|h2|table|tr|td|span|section)>|[a-z ]{1,6}|&[a-z]{0,5};?){0,60}"#) {
            let bytes = TestBook::new("Fuzz")
                .raw("a.xhtml", "A", &body)
                .raw("b.xhtml", "B", &xhtml("b", &body))
                .entry(1, "B2", "#a")
                .build();
            if let Ok(book) = read(&bytes, &default()) {
                for chapter in &book.chapters {
                    prop_assert_eq!(chapter.text.trim(), chapter.text.as_str());
                }
            }
        }

        /// A book with bytes flipped anywhere: a book or an error, never a panic.
        #[test]
        fn damaged_archives_never_panic(at in 0usize..4000, byte in any::<u8>()) {
            let mut bytes = plain_book().build();
            let len = bytes.len();
            bytes[at % len] = byte;
            let _ = read(&bytes, &default());
        }
    }
}

#[test]
fn well_known_titles_and_file_names_name_front_and_back_matter() {
    for (title, kind) in [
        ("CONTENTS", Some("table of contents")),
        ("Table of Contents", Some("table of contents")),
        ("Copyright", Some("copyright page")),
        ("THE FULL PROJECT GUTENBERG LICENSE", Some("licence")),
        (
            "The Project Gutenberg eBook of Alice’s Adventures in Wonderland",
            Some("title page"),
        ),
        ("Index", Some("index")),
        ("Chapter 1: The Index Card", None),
        ("Notes on the Text", None),
    ] {
        assert_eq!(label_kind(title), kind, "{title}");
    }
    for (file, kind) in [
        ("cover.xhtml", Some("cover")),
        ("00_Cover.html", Some("cover")),
        ("title-page.xhtml", Some("title page")),
        ("copyright.html", Some("copyright page")),
        ("chapter-001.xhtml", None),
    ] {
        assert_eq!(file_kind(file), kind, "{file}");
    }
}

/// The book's files with one file's bytes replaced.
fn with_file(book: &TestBook, path: &str, bytes: Vec<u8>) -> Vec<u8> {
    let files: Vec<(String, Vec<u8>)> = book
        .files()
        .into_iter()
        .map(|(name, old)| {
            let new = if name == path { bytes.clone() } else { old };
            (name, new)
        })
        .collect();
    build::zip(&files)
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xff, 0xfe];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

#[test]
fn documents_in_windows_1252_latin_1_and_utf_16_are_decoded_as_declared() {
    let book = TestBook::new("Encodings")
        .chapter("a.xhtml", "One", &["placeholder"])
        .chapter("b.xhtml", "Two", &["placeholder"]);
    let latin = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>One</title></head><body><h2>One</h2><p>Caf\xe9 \x93cr\xe8me\x94 \x96 na\xefve.</p></body></html>".to_vec();
    let utf16 = utf16le(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Two</title></head><body><h2>Two</h2><p>Grüße aus Köln.</p></body></html>",
    );
    // The package document in UTF-16 too.
    let files: Vec<(String, Vec<u8>)> = book
        .files()
        .into_iter()
        .map(|(n, b)| match n.as_str() {
            "OEBPS/a.xhtml" => (n, latin.clone()),
            "OEBPS/b.xhtml" => (n, utf16.clone()),
            "OEBPS/content.opf" => {
                let text = String::from_utf8(b)
                    .unwrap()
                    .replace("encoding=\"utf-8\"", "encoding=\"UTF-16\"");
                (n, utf16le(&text))
            }
            _ => (n, b),
        })
        .collect();
    let book = read(&build::zip(&files), &default()).unwrap();
    let texts = kept_texts(&book);
    assert_eq!(
        texts,
        ["One\n\nCafé “crème” – naïve.", "Two\n\nGrüße aus Köln."]
    );
    assert_eq!(book.metadata.title.as_deref(), Some("Encodings"));
}

#[test]
fn navigation_hidden_content_and_gutenberg_boilerplate_are_not_read() {
    let body = concat!(
        "<div class=\"related\" role=\"navigation\"><h3>Navigation</h3><ul><li><a href=\"x\">next</a></li></ul></div>",
        "<nav><p>Skip to content</p></nav>",
        "<h1>The Chapter</h1>",
        "<p>Seen.</p><p aria-hidden=\"true\">Unseen one.</p><p style=\"color: red; display : none\">Unseen two.</p>",
        "<p hidden=\"\">Unseen three.</p>",
        "<div class=\"pg-boilerplate pgfooter\" id=\"pg-footer\"><p>End of the Project Gutenberg EBook.</p></div>",
    );
    let book = TestBook::new("Hidden").doc("a.xhtml", "", body);
    let book = read(&book.build(), &default()).unwrap();
    let kept: Vec<(&str, &str)> = book
        .chapters
        .iter()
        .filter(|c| c.kept)
        .map(|c| (c.title.as_str(), c.text.as_str()))
        .collect();
    assert_eq!(kept, [("The Chapter", "The Chapter\n\nSeen.")]);

    // A Gutenberg book whose header and licence are plain text between the markers.
    let body = concat!(
        "<p>The Project Gutenberg EBook of Tales, by Someone</p><p>This eBook is for the use of anyone anywhere.</p>",
        "<p>*** START OF THIS PROJECT GUTENBERG EBOOK TALES ***</p>",
        "<h2>The Tale</h2><p>Once upon a time.</p>",
        "<p>*** END OF THIS PROJECT GUTENBERG EBOOK TALES ***</p><p>Updated editions will replace the previous one.</p>",
    );
    let book = TestBook::new("Tales").doc("a.xhtml", "The Tale", body);
    let book = read(&book.build(), &default()).unwrap();
    let texts = kept_texts(&book);
    assert_eq!(texts, ["The Tale\n\nOnce upon a time."]);
}

#[test]
fn a_heading_after_an_epigraph_is_read_once_first() {
    let body = "<p class=\"page\">17</p><blockquote><p>All happy families are alike.</p></blockquote><h2>Chapter One</h2><p>Everything was in confusion.</p>";
    let book = TestBook::new("Once").doc("a.xhtml", "Chapter One", body);
    let book = read(&book.build(), &default()).unwrap();
    let chapter = book.chapters.iter().find(|c| c.kept).unwrap();
    assert_eq!(
        chapter.text,
        "Chapter One\n\n17\n\nAll happy families are alike.\n\nEverything was in confusion."
    );
}

#[test]
fn a_spine_listing_a_document_twice_or_in_parts_reads_it_once() {
    let book = TestBook::new("Twice")
        .chapter("a.xhtml", "One", &["First."])
        .chapter("b.xhtml", "Two", &["Second."]);
    let opf = book.opf().replace(
        "<itemref idref=\"d1\"/>",
        "<itemref idref=\"d1\"/><itemref idref=\"d0\"/><itemref idref=\"part\"/>",
    );
    let opf = opf.replace(
        "</manifest>",
        "<item id=\"part\" href=\"a.xhtml#s2\" media-type=\"application/xhtml+xml\"/></manifest>",
    );
    let bytes = with_file(&book, "OEBPS/content.opf", opf.into_bytes());
    let book = read(&bytes, &default()).unwrap();
    assert_eq!(kept_titles(&book), ["One", "Two"]);
}

#[test]
fn a_malformed_guide_keeps_the_label_rules_and_front_pages_are_title_pages() {
    let book = TestBook::new("Guide")
        .doc("front.xhtml", "Front page", "<h1>Guide</h1><p>A novel.</p>")
        .doc(
            "9780000_titlepage.xhtml",
            "",
            "<p>Guide</p><p>by A. Writer</p>",
        )
        .doc("contents.xhtml", "Contents", "<p>One. Two.</p>")
        .guide("contents.xhtml")
        .chapter("one.xhtml", "One", &["Text."]);
    let book = read(&book.build(), &default()).unwrap();
    assert_eq!(kept_titles(&book), ["One"]);
    let reasons: Vec<&str> = left_out(&book).into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        reasons,
        [
            "title page (titled \"Front page\")",
            "title page (file name 9780000_titlepage.xhtml)",
            "table of contents (titled \"Contents\")",
        ]
    );
}

#[test]
fn a_retailers_about_and_recommendations_pages_are_not_read() {
    // As Feedbooks ships its public-domain books (seen in its "The War of the Worlds" and
    // "Alice's Adventures in Wonderland"): an "About" page filed as a bibliography, and
    // "Recommendations" filed as text.
    let book = TestBook::new("The War of the Worlds")
        .doc(
            "about.xml",
            "About",
            "<h3>About Wells:</h3><p>Herbert George Wells was an English writer.</p>\
             <h3>Also available on Feedbooks Wells:</h3><p>The Time Machine (1895)</p>\
             <p>Note: This book is brought to you by Feedbooks</p><p>feedbooks.com</p>",
        )
        .chapter(
            "main1.xml",
            "Chapter 1 - The Eve of the War",
            &["No one would have believed it."],
        )
        .chapter(
            "main2.xml",
            "Chapter 2 - The Falling Star",
            &["Then came the night."],
        )
        .doc(
            "similar.xml",
            "Recommendations",
            "<p>Loved this book ?</p><p>Similar users also downloaded</p>\
             <p>Jules Verne</p><p>20,000 Leagues Under the Sea</p>",
        );
    let read_book = read(&book.build(), &default()).unwrap();
    assert_eq!(
        kept_titles(&read_book),
        [
            "Chapter 1 - The Eve of the War",
            "Chapter 2 - The Falling Star"
        ]
    );
    assert_eq!(
        left_out(&read_book),
        [
            ("About", "the retailer's page (Feedbooks)"),
            ("Recommendations", "the retailer's page (Feedbooks)"),
        ]
    );
    // Kept on request, as all front and back matter is.
    let opts = EpubOptions {
        keep_front_matter: true,
        ..default()
    };
    assert_eq!(kept_titles(&read(&book.build(), &opts).unwrap()).len(), 4);
}

#[test]
fn what_documentation_generators_add_for_readers_of_a_page_is_not_read() {
    // DocBook XSL: the chapter's own table of contents, a note mark and the footnotes at the end.
    let body = concat!(
        "<div class=\"chapter\"><div class=\"titlepage\"><h1 class=\"title\">Chapter 2. Prerequisites</h1></div>",
        "<div class=\"toc\"><p><strong>Table of Contents</strong></p><dl class=\"toc\"><dt><a href=\"#a\">2.1. People</a></dt></dl></div>",
        "<div class=\"list-of-tables\"><p><b>List of Tables</b></p><dl><dt>2.1. Roles</dt></dl></div>",
        "<p>If you are a Debian user <a href=\"#ftn.1\" class=\"footnote\" id=\"r1\"><sup class=\"footnote\">[1]</sup></a>, read on.</p>",
        "<div class=\"footnotes\"><br/><hr/><div id=\"ftn.1\" class=\"footnote\"><p><a href=\"#r1\"><sup>[1] </sup></a>A footnote.</p></div></div></div>",
    );
    // Sphinx: an external link's address written again after it.
    let sphinx = concat!(
        "<h1>Scope</h1><p>See the <a class=\"reference external\" href=\"https://www.debian.org/doc/\">Policy\nManual</a>",
        "<span class=\"link-target\"> [https://www.debian.org/doc/]</span>.</p>",
        "<p>Mail us <a class=\"footnote-reference brackets\" href=\"#id2\" id=\"id1\" role=\"doc-noteref\">",
        "<span class=\"fn-bracket\">[</span>1<span class=\"fn-bracket\">]</span></a> first.</p>",
        "<aside class=\"footnote-list brackets\"><aside class=\"footnote brackets\" id=\"id2\" role=\"note\">",
        "<span class=\"label\"><span class=\"fn-bracket\">[</span><a role=\"doc-backlink\" href=\"#id1\">1</a>",
        "<span class=\"fn-bracket\">]</span></span><p>A docutils footnote.</p></aside></aside>",
    );
    let book = TestBook::new("Generated")
        .doc("ch02.html", "2. Prerequisites", body)
        .doc("scope.xhtml", "Scope", sphinx);
    let book = read(&book.build(), &default()).unwrap();
    let texts = kept_texts(&book);
    assert_eq!(
        texts,
        [
            "Chapter 2. Prerequisites\n\nIf you are a Debian user, read on.",
            "Scope\n\nSee the Policy Manual.\n\nMail us first."
        ]
    );
}
