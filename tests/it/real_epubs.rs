//! Real EPUBs from several producers (`tests/corpus/SOURCES.md`), each planned and read as a
//! listener expects: one item per chapter of its table of contents, titled as the contents
//! titles it, and nothing of the producer's boilerplate, navigation or front matter.

use crate::support::*;

/// `plan --json` of a corpus book: (titles, characters) of its items, and its left-out parts.
fn plan(name: &str) -> (Vec<(String, u64)>, Vec<serde_json::Value>) {
    let ws = Workspace::new();
    ws.corpus(name);
    let out = ws.run(&["plan", name, "--json"]);
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("plan --json");
    let items = plan["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["title"].as_str().unwrap_or("").to_owned(),
                i["characters"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    (
        items,
        plan["left_out"].as_array().cloned().unwrap_or_default(),
    )
}

/// What `tts-batch text` prints for a corpus book.
fn spoken(name: &str) -> String {
    let ws = Workspace::new();
    ws.corpus(name);
    let out = ws.run(&["text", name]);
    assert_exit(&out, 0);
    out.stdout
}

fn titles(items: &[(String, u64)]) -> Vec<&str> {
    items.iter().map(|(t, _)| t.as_str()).collect()
}

/// Speech has no replacement characters, NULs or markup.
fn assert_clean(text: &str) {
    assert!(!text.contains('\u{fffd}') && !text.contains('\0'));
    for markup in [
        "<p>", "</p>", "<div", "<span", "<a ", "&amp;", "&nbsp;", "xmlns",
    ] {
        assert!(!text.contains(markup), "markup {markup:?} in speech");
    }
}

/// Project Gutenberg's Frankenstein: the letters and the chapters, and not one word of
/// Gutenberg's header or licence; its title page and contents are left out, with reasons.
#[test]
fn gutenberg_frankenstein_reads_its_letters_and_chapters_only() {
    let (items, left_out) = plan("frankenstein-gutenberg.epub");
    let mut expected: Vec<String> = (1..=4).map(|i| format!("Letter {i}")).collect();
    expected.extend((1..=24).map(|i| format!("Chapter {i}")));
    assert_eq!(titles(&items), expected);
    let text = spoken("frankenstein-gutenberg.epub");
    assert_clean(&text);
    for boilerplate in [
        "Gutenberg",
        "GUTENBERG",
        "gutenberg.org",
        "*** START",
        "*** END",
        "This ebook is for the use of anyone",
        "Release date",
    ] {
        assert!(!text.contains(boilerplate), "{boilerplate:?} is read");
    }
    assert!(text.contains("=== 01-letter-1: Letter 1 ===\nLetter 1\n\nTo Mrs. Saville, England."));
    assert!(text.trim_end().ends_with("lost in darkness and distance."));
    let reasons: Vec<&str> = left_out
        .iter()
        .filter_map(|l| l["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("title page")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("table of contents")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("licence")),
        "{reasons:?}"
    );
}

/// IDPF's Children's Literature: the stories share one content document, listed in the
/// contents under a part heading; each is an item of its own.
#[test]
fn stories_in_one_document_are_cut_at_their_contents_entries() {
    let (items, _) = plan("childrens-literature.epub");
    let titles = titles(&items);
    for story in [
        "190 A FOUR-LEAVED CLOVER",
        "192 THE REAL PRINCESS",
        "194 THE NIGHTINGALE",
        "198 THE UGLY DUCKLING",
        "204 THE KING OF THE GOLDEN RIVER OR THE BLACK BROTHERS",
    ] {
        assert!(titles.contains(&story), "{story} missing from {titles:?}");
    }
    assert!(items.len() >= 15, "{titles:?}");
    // No item is the whole book (292,548 characters before).
    assert!(items.iter().all(|(_, chars)| *chars < 60_000), "{items:?}");
    let text = spoken("childrens-literature.epub");
    assert_clean(&text);
    let speech: String = text
        .lines()
        .filter(|l| !l.starts_with("=== "))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        speech.matches("THE NIGHTINGALE").count(),
        1,
        "a heading is read once"
    );
}

/// The Live Systems Manual (SiSU) lists parts of each document as `file#id` spine entries:
/// every passage is read once, one item per chapter, and its malformed `<guide>` does not stop
/// its contents page and part pages from being recognised.
#[test]
fn a_spine_of_file_fragments_reads_each_passage_once() {
    let (items, left_out) = plan("live-manual-en.epub");
    let titles = titles(&items);
    assert_eq!(titles.first(), Some(&"1. About this manual"));
    assert!(titles.contains(&"4. The basics") && titles.contains(&"19. Style guide"));
    let mut unique = titles.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        titles.len(),
        "an item is read twice: {titles:?}"
    );
    // The book's text once (before: 12.5 times).
    let total: u64 = items.iter().map(|(_, c)| c).sum();
    assert!(total < 200_000, "{total} characters");
    let contents = left_out
        .iter()
        .find(|l| l["href"] == "OEBPS/index.xhtml")
        .expect("the contents page is left out");
    assert!(
        contents["reason"]
            .as_str()
            .unwrap()
            .starts_with("table of contents")
    );
    let text = spoken("live-manual-en.epub");
    assert_clean(&text);
    // SiSU numbers every paragraph in a `<label>`: those numbers are not read.
    let numbers = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty() && p.trim().chars().all(|c| c.is_ascii_digit()))
        .count();
    assert_eq!(numbers, 0);
}

/// The Ubuntu Packaging Guide (Sphinx) repeats a navigation bar on every page: it is not read,
/// and no chapter is titled by it.
#[test]
fn navigation_bars_are_not_read_nor_titles() {
    let (items, _) = plan("ubuntu-packaging-guide.epub");
    let titles = titles(&items);
    assert_eq!(items.len(), 16, "{titles:?}");
    assert!(
        titles.iter().all(|t| !t.contains("Navigation")),
        "{titles:?}"
    );
    assert!(titles.contains(&"2. Getting Set Up"), "{titles:?}");
    let text = spoken("ubuntu-packaging-guide.epub");
    assert_clean(&text);
    assert!(!text.contains("Navigation"), "a navigation bar is read");
    assert!(!text.contains("previous |") && !text.contains("next |"));
}

/// calibre's Quick Start Guide: its chapters as its contents lists them; the cover, the
/// internal title page and the contents are left out.
#[test]
fn calibre_quick_start_reads_its_chapters() {
    let (items, left_out) = plan("calibre-quick-start-eng.epub");
    let titles = titles(&items);
    assert_eq!(titles.first(), Some(&"Introduction"));
    assert_eq!(titles.last(), Some(&"Where to get help"));
    assert_eq!(items.len(), 11, "{titles:?}");
    let hrefs: Vec<&str> = left_out.iter().filter_map(|l| l["href"].as_str()).collect();
    assert_eq!(
        hrefs,
        [
            "text/titlepage.xhtml",
            "text/internal_titlepage.xhtml",
            "text/toc.xhtml"
        ]
    );
    assert_clean(&spoken("calibre-quick-start-eng.epub"));
}

/// The Guide for Debian Maintainers (DocBook XSL): one item per chapter of its contents; the
/// table of contents each chapter opens with and the footnotes gathered at its end are not
/// read, nor is the space left by a note mark before the punctuation after it.
#[test]
fn docbook_chapters_read_without_their_own_contents_or_footnotes() {
    let (items, left_out) = plan("debmake-doc-en.epub");
    assert_eq!(
        titles(&items),
        [
            "Preface",
            "1. Overview",
            "2. Prerequisites",
            "3. Tool Setups",
            "4. Simple Example",
            "5. Basics",
            "6. debmake options",
            "7. Tips",
            "8. More Examples",
            "A. debmake(1) manpage"
        ]
    );
    let hrefs: Vec<&str> = left_out.iter().filter_map(|l| l["href"].as_str()).collect();
    assert_eq!(
        hrefs,
        [
            "OEBPS/cover.html",
            "OEBPS/bk01-toc.html",
            "OEBPS/index.html"
        ]
    );
    let text = spoken("debmake-doc-en.epub");
    assert_clean(&text);
    assert!(
        !text.contains("Table of Contents"),
        "a chapter's contents is read"
    );
    assert!(text.contains("=== 03-2-prerequisites: 2. Prerequisites ===\nChapter 2. Prerequisites\n\nHere are the prerequisites"));
    // The note mark after "user" is not read, nor its footnote at the chapter's end.
    assert!(text.contains("experienced Debian user, you may have encountered"));
    assert!(!text.contains("You do need to know a little about Unix programming"));
    // A scheme without a host is read as written.
    assert!(text.contains("the URL (http://, https://, or ftp://) to the upstream tarball"));
}

/// The Debian Developer's Reference (Sphinx): its chapters, without the address Sphinx writes
/// again after every external link, nor docutils' footnotes.
#[test]
fn sphinx_link_addresses_and_footnotes_are_not_read() {
    let (items, left_out) = plan("developers-reference.epub");
    assert_eq!(
        titles(&items),
        [
            "Scope of This Document",
            "Applying to Become a Member",
            "Debian Developer's Duties",
            "Resources for Debian Members",
            "Managing Packages",
            "Best Packaging Practices",
            "Beyond Packaging",
            "Internationalization and Translations",
            "Overview of Debian Maintainer Tools"
        ]
    );
    let hrefs: Vec<&str> = left_out.iter().filter_map(|l| l["href"].as_str()).collect();
    assert_eq!(hrefs, ["index.xhtml", "genindex.xhtml"]);
    let text = spoken("developers-reference.epub");
    assert_clean(&text);
    assert!(text.contains("can be found in the Debian Policy Manual.\n"));
    assert!(!text.contains("[debian.org]") && !text.contains("[https"));
    assert!(text.contains("[VAC] prepended to the subject of your message and state the period"));
    assert!(!text.contains("This is so that the message can be easily filtered"));
    assert!(
        !text.lines().any(|l| l.trim() == "[1]"),
        "a footnote label is read"
    );
}

/// The ExpEYES-17 user manual, as Debian ships it (Sphinx, with its chapters renumbered by its
/// own script): a chapter per top-level contents entry, several in one document; the manual's
/// own contents page, the general index and the pages outside the reading order left out;
/// images (their file names as `alt`) not read.
#[test]
fn a_manual_with_several_chapters_in_a_document_reads_each_by_its_contents_title() {
    let (items, left_out) = plan("eyes17-manual.epub");
    assert_eq!(items.len(), 92, "{:?}", titles(&items));
    assert_eq!(
        titles(&items)[..5],
        [
            "The equipment",
            "Software Installation",
            "The main GUI program",
            "The top menu of the Main Window",
            "Getting Familiar with ExpEYES17"
        ]
    );
    assert_eq!(titles(&items)[91], "load_table(function, span)");
    assert!(items.iter().all(|(_, chars)| *chars > 0));
    let hrefs: Vec<&str> = left_out.iter().filter_map(|l| l["href"].as_str()).collect();
    assert_eq!(
        hrefs,
        [
            "index.xhtml",
            "genindex.xhtml",
            "1.1.xhtml",
            "index.latex.xhtml"
        ]
    );
    let text = spoken("eyes17-manual.epub");
    assert_clean(&text);
    assert!(text.contains(
        "=== 06-measuring-voltage: Measuring Voltage ===\nMeasuring Voltage\n\nObjective\n\nLearn to measure voltage using expEYES"
    ));
    assert!(!text.contains("_images/") && !text.contains(".svg"));
}
