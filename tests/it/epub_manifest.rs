//! EPUB books end to end: a file per chapter of the reading order, titled from the table of
//! contents, front and back matter left out (and `plan` saying so), bad books refused.

use crate::support::epub::{self, TestBook};
use crate::support::*;

/// The ten chapters of the corpus's Jekyll and Hyde, as `plan` and the report name them.
const JEKYLL_KEYS: [&str; 10] = [
    "01-story-of-the-door",
    "02-search-for-mr-hyde",
    "03-dr-jekyll-was-quite-at-ease",
    "04-the-carew-murder-case",
    "05-incident-of-the-letter",
    "06-remarkable-incident-of-dr-lanyon",
    "07-incident-at-the-window",
    "08-the-last-night",
    "09-dr-lanyon-s-narrative",
    "10-henry-jekyll-s-full-statement-of-the-case",
];

#[test]
fn plan_lists_jekyll_and_hydes_chapters_and_what_is_left_out() {
    let ws = Workspace::new();
    ws.corpus("jekyll-hyde.epub");
    let out = ws.run(&["plan", "jekyll-hyde.epub"]);
    assert_exit(&out, 0);
    let mut at = 0;
    for key in JEKYLL_KEYS {
        let found = out.stdout[at..]
            .find(key)
            .unwrap_or_else(|| panic!("{key} not in order in:\n{}", out.stdout));
        at += found;
    }
    for (href, reason) in [
        ("epub/text/titlepage.xhtml", "title page"),
        ("epub/text/imprint.xhtml", "imprint"),
        ("epub/text/colophon.xhtml", "colophon"),
        ("epub/text/uncopyright.xhtml", "copyright page"),
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(href))
            .unwrap_or_else(|| panic!("{href} not listed as left out:\n{}", out.stdout));
        assert!(line.contains(reason), "{line}");
    }
    assert!(out.stdout.contains("10 items"), "{}", out.stdout);

    let all = ws.run(&["plan", "jekyll-hyde.epub", "--keep-front-matter"]);
    assert_exit(&all, 0);
    assert!(all.stdout.contains("14 items"), "{}", all.stdout);
    assert!(all.stdout.contains("01-titlepage"), "{}", all.stdout);
}

#[test]
fn jekyll_and_hyde_becomes_ten_chapter_files_read_without_markup() {
    let ws = Workspace::new();
    ws.corpus("jekyll-hyde.epub");
    let api = FakeApi::builder().ms_per_char(1).start();
    let out = ws.run_against(&api, "jekyll-hyde.epub", &["-j", "8"]);
    assert_exit(&out, 0);
    let report = ws.report("jekyll-hyde-audio");
    let items = report["items"].as_array().unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, JEKYLL_KEYS);
    assert_eq!(items[1]["title"], "Search for Mr. Hyde");
    for key in JEKYLL_KEYS {
        assert!(ws.path(&format!("jekyll-hyde-audio/{key}.mp3")).is_file());
    }
    let requests = api.requests();
    assert!(
        requests.iter().any(|r| r
            .input
            .starts_with("Story of the Door\n\nMr. Utterson the lawyer")),
        "the heading is spoken first"
    );
    for r in &requests {
        assert!(
            !r.input.contains(['<', '>', '\u{2060}', '\u{ad}']),
            "{:?}",
            r.input
        );
        assert!(
            !r.input.contains("Standard Ebooks"),
            "no imprint or colophon: {:?}",
            r.input
        );
    }
}

/// An EPUB 2 book as older converters make them: an NCX, no nav, no epub:type.
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
        .chapter(
            "ch2.xhtml",
            "Chapter 2: The End",
            &["It ended<sup><a href=\"#n\">1</a></sup>."],
        )
        .doc(
            "copyright.xhtml",
            "",
            "<p>Copyright 2001 A. Writer. All rights reserved.</p>",
        )
}

#[test]
fn an_epub2_book_without_semantics_is_read_by_its_ncx() {
    let ws = Workspace::new();
    ws.write("plain.epub", plain_book().build());
    let plan = ws.run(&["plan", "plain.epub"]);
    assert_exit(&plan, 0);
    for left_out in [
        "title.xhtml",
        "contents.xhtml",
        "copyright.xhtml",
        "cover.xhtml",
    ] {
        assert!(
            plan.stdout.contains(left_out),
            "{left_out} in:\n{}",
            plan.stdout
        );
    }

    let api = FakeApi::start();
    let out = ws.run_against(&api, "plain.epub", &[]);
    assert_exit(&out, 0);
    let report = ws.report("plain-audio");
    let items = report["items"].as_array().unwrap();
    let got: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["output"].as_str().unwrap(), i["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("01-the-start.mp3", "Chapter 1: The Start"),
            ("02-the-end.mp3", "Chapter 2: The End"),
        ]
    );
    let mut inputs: Vec<String> = api.requests().into_iter().map(|r| r.input).collect();
    inputs.sort();
    assert_eq!(
        inputs,
        [
            "Chapter 1: The Start\n\nIt began.\n\nIt went on.",
            "Chapter 2: The End\n\nIt ended.",
        ]
    );
}

#[test]
fn input_format_epub_and_the_job_file_key_work() {
    let ws = Workspace::new();
    ws.write("book.zip", plain_book().build());
    let plan = ws.run(&["plan", "book.zip", "--input-format", "epub"]);
    assert_exit(&plan, 0);
    assert!(plan.stdout.contains("2 items"), "{}", plan.stdout);
    ws.write(
        "job.toml",
        "input = \"book.zip\"\ninput-format = \"epub\"\nkeep-front-matter = true\n",
    );
    let plan = ws.run(&["plan", "job.toml"]);
    assert_exit(&plan, 0);
    assert!(plan.stdout.contains("5 items"), "{}", plan.stdout);
}

#[test]
fn bad_epubs_are_refused_with_one_line_naming_the_file() {
    let ws = Workspace::new();
    ws.write("text.epub", "just some text, not a zip\n");
    refused(
        &ws,
        &["run", "text.epub"],
        "text.epub: not an EPUB: not a zip archive",
    );

    let files = plain_book().files();
    let without = |path: &str| {
        let mut files = files.clone();
        files.retain(|(name, _)| name != path);
        epub::zip(&files)
    };
    ws.write("no-container.epub", without("META-INF/container.xml"));
    refused(
        &ws,
        &["run", "no-container.epub"],
        "no-container.epub: not an EPUB: no META-INF/container.xml",
    );
    ws.write("no-package.epub", without("OEBPS/content.opf"));
    refused(
        &ws,
        &["run", "no-package.epub"],
        "no-package.epub: no package document",
    );
    ws.write("no-chapter.epub", without("OEBPS/ch2.xhtml"));
    refused(
        &ws,
        &["run", "no-chapter.epub"],
        "no-chapter.epub: spine entry `OEBPS/ch2.xhtml` is missing",
    );

    let replaced = |path: &str, bytes: Vec<u8>| {
        let mut files = files.clone();
        for file in &mut files {
            if file.0 == path {
                file.1 = bytes.clone();
            }
        }
        epub::zip(&files)
    };
    let opf = plain_book().opf();
    ws.write(
        "broken.epub",
        replaced(
            "OEBPS/content.opf",
            opf.replace("</manifest>", "").into_bytes(),
        ),
    );
    refused(
        &ws,
        &["run", "broken.epub"],
        "broken.epub: invalid XML in `OEBPS/content.opf`",
    );
    ws.write(
        "escape.epub",
        replaced(
            "OEBPS/content.opf",
            opf.replace("href=\"ch1.xhtml\"", "href=\"../../ch1.xhtml\"")
                .into_bytes(),
        ),
    );
    refused(
        &ws,
        &["run", "escape.epub"],
        "escape.epub: path `../../ch1.xhtml` leaves the archive",
    );
    ws.write(
        "bomb.epub",
        replaced("OEBPS/ch1.xhtml", vec![b' '; 8 << 20]),
    );
    refused(
        &ws,
        &["run", "bomb.epub"],
        "bomb.epub: refused as a zip bomb",
    );

    let mut drm = files.clone();
    drm.push((
        "META-INF/encryption.xml".to_owned(),
        br#"<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><enc:CipherData><enc:CipherReference URI="OEBPS/ch1.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>"#.to_vec(),
    ));
    ws.write("drm.epub", epub::zip(&drm));
    refused(
        &ws,
        &["plan", "drm.epub"],
        "drm.epub: the book is DRM-protected",
    );

    let front_only = TestBook::new("Front").doc("title.xhtml", "Title Page", "<h1>Front</h1>");
    ws.write("front.epub", front_only.build());
    refused(&ws, &["run", "front.epub"], "front.epub: nothing to say");
}

#[test]
fn an_edited_chapter_is_the_only_one_requested_again() {
    let ws = Workspace::new();
    let book = |second: &str| {
        TestBook::new("Edits")
            .chapter("a.xhtml", "One", &["The first chapter stays as it is."])
            .chapter("b.xhtml", "Two", &[second])
            .chapter("c.xhtml", "Three", &["The third chapter stays too."])
            .build()
    };
    ws.write("edits.epub", book("The second chapter, first draft."));
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "edits.epub", &[]), 0);
    assert_eq!(api.count(), 3);

    ws.write("edits.epub", book("The second chapter, second draft."));
    api.reset_log();
    assert_exit(&ws.run_against(&api, "edits.epub", &[]), 0);
    let inputs: Vec<String> = api.requests().into_iter().map(|r| r.input).collect();
    assert_eq!(inputs, ["Two\n\nThe second chapter, second draft."]);
    assert!(ws.path("edits-audio/02-two.mp3").is_file());
}

#[test]
fn an_m4b_of_jekyll_and_hyde_takes_title_author_and_cover_from_the_epub() {
    let ws = Workspace::new();
    ws.corpus("jekyll-hyde.epub");
    // A voice's pace (15 ms a character), so that the audio checks doubt no answer.
    let api = FakeApi::builder().ms_per_char(15).start();
    let out = ws.run_against(&api, "jekyll-hyde.epub", &["--book", "m4b", "-j", "8"]);
    assert_exit(&out, 0);
    let title = "The Strange Case of Dr. Jekyll and Mr. Hyde";
    let book_path = ws.path("jekyll-hyde-audio/the-strange-case-of-dr-jekyll-and-mr-hyde.m4b");
    let book = probe::probe(&book_path);
    assert_eq!(book.tags.get("title").map(String::as_str), Some(title));
    assert_eq!(book.tags.get("album").map(String::as_str), Some(title));
    assert_eq!(
        book.tags.get("artist").map(String::as_str),
        Some("Robert Louis Stevenson")
    );
    assert!(book.has_cover, "the EPUB's cover is the book's");
    let chapters: Vec<&str> = book.chapters.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(chapters.len(), 10, "{chapters:?}");
    assert_eq!(chapters[0], "Story of the Door");
    assert_eq!(chapters[9], "Henry Jekyll’s Full Statement of the Case");
    // Every chapter file carries the same album, artist and cover.
    let first = probe::probe(&ws.path("jekyll-hyde-audio/01-story-of-the-door.mp3"));
    assert_eq!(first.tags.get("album").map(String::as_str), Some(title));
    assert_eq!(
        first.tags.get("artist").map(String::as_str),
        Some("Robert Louis Stevenson")
    );
    assert!(first.has_cover);
}
