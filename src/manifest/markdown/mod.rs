//! The Markdown reader: turns a Markdown book into chapters of plain, speakable text.
//!
//! This module owns everything between the Markdown source and the text of each chapter item:
//! choosing the chapter heading level, cutting the book at those headings, removing markup so
//! that only what a narrator would say is left.
//! It does no I/O.
//!
//! How it works: the source is prepared (mdBook `{{#...}}` directives, a leading YAML front
//! matter block and a byte-order mark are removed, line breaks kept so line numbers still
//! match), then parsed once by pulldown-cmark. A small state machine over the events writes
//! the whole document as speech text and marks where each top-level heading starts and ends.
//! Cutting into chapters then only slices that text, so the chapter level can be chosen after
//! the single parse (auto-detection needs to have seen every heading).
//!
//! How markup reads aloud:
//! - paragraphs, headings below the chapter level, list items, block quotes, tables and
//!   (with `read_code`) code blocks are separated by a paragraph break, `"\n\n"`;
//! - a line break inside a paragraph, soft or hard, stays a line break `"\n"`, so verse keeps
//!   its lines (and hard-wrapped prose keeps its wraps; both are just whitespace to a voice);
//! - emphasis, strong, strikethrough, link and inline-code markers are dropped, their text is
//!   read; link destinations are never read, and a URL written as text is read as its host
//!   name only (`https://www.rust-lang.org/tools/install` reads `rust-lang.org`);
//! - images, HTML blocks, inline HTML tags, footnote definitions and references, task-list
//!   boxes and (without `read_code`) code blocks are not read; text between inline tags is;
//! - a table is read row by row: cells joined by `", "`, each row ending with `"."` (unless
//!   its last cell already ends in punctuation) and a line break, so each row is a short
//!   sentence: `"Length, Signed, Unsigned.\n8-bit, i8, u8."`;
//! - whitespace runs collapse to one space, and nothing leads or trails a chapter's text.
//!
//! The words are written by the spoken-text writer EPUB shares (`manifest/speech.rs`), which
//! also owns how URLs, underscores and invisible characters read.

use pulldown_cmark::Options;

mod reader;
mod source;

use reader::{Document, HeadingMark};

/// Options of the Markdown reader.
#[derive(Debug, Clone, Default)]
pub struct MarkdownOptions {
    /// Heading level (1-6) that starts a chapter; None = auto.
    pub chapter_level: Option<u8>,
    /// Read fenced and indented code blocks aloud instead of skipping them.
    pub read_code: bool,
}

/// One chapter: an item of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chapter {
    /// 0 for the title page (text before the first chapter heading), then 1, 2, ... in order.
    pub number: usize,
    /// Plain text of the chapter heading (markup removed); for the title page, the text of the
    /// first heading on it if any (e.g. the book title), else "".
    pub title: String,
    /// What is spoken: for a chapter, its heading text, a paragraph break ("\n\n"), then the body.
    /// For the title page, its prose (including any headings in it).
    pub text: String,
    /// 1-based line of the source where the chapter starts (its heading), for messages; 1 for
    /// the title page and for a document read as a single chapter.
    pub line: usize,
}

/// The heading level that chapters are cut at when [`MarkdownOptions::chapter_level`] is None
/// (auto): the shallowest level that occurs more than once or, if no level does, the
/// shallowest level that occurs at all. Only headings at the top level of the document count
/// (not those inside block quotes, lists or footnotes). Returns None when the document has no
/// headings.
pub fn chapter_level(source: &str) -> Option<u8> {
    auto_level(&Document::read(source, false).headings)
}

/// Splits a Markdown document into chapters. Chapters with no text at all after markup is removed
/// still count (their heading is spoken). The title page is included only if it has prose beyond
/// headings. A document without headings (or whose chapter level has no headings) is one chapter,
/// number 1, with an empty title; a document with nothing to read at all yields no chapters.
///
/// Headings shallower than the chapter level (a part title, say) are read where they stand, as
/// paragraphs of the chapter or title page they fall in, like deeper headings.
pub fn chapters(source: &str, opts: &MarkdownOptions) -> Vec<Chapter> {
    let document = Document::read(source, opts.read_code);
    let level = opts
        .chapter_level
        .or_else(|| auto_level(&document.headings));
    let cuts: Vec<&HeadingMark> = document
        .headings
        .iter()
        .filter(|heading| Some(heading.level) == level)
        .collect();

    let Some(first) = cuts.first() else {
        let text = document.text.trim();
        if text.is_empty() {
            return Vec::new();
        }
        return vec![Chapter {
            number: 1,
            title: String::new(),
            text: text.to_owned(),
            line: 1,
        }];
    };

    let mut chapters = Vec::with_capacity(cuts.len() + 1);
    if first.prose_before {
        // The title page's title is its first heading, which comes before the first cut.
        let title = document
            .headings
            .iter()
            .find(|heading| heading.start < first.start)
            .map_or("", |heading| document.slice(heading.start..heading.end));
        chapters.push(Chapter {
            number: 0,
            title: title.trim().to_owned(),
            text: document.slice(0..first.start).trim().to_owned(),
            line: 1,
        });
    }
    for (index, heading) in cuts.iter().enumerate() {
        let end = cuts
            .get(index + 1)
            .map_or(document.text.len(), |next| next.start);
        chapters.push(Chapter {
            number: index + 1,
            title: document.slice(heading.start..heading.end).trim().to_owned(),
            text: document.slice(heading.start..end).trim().to_owned(),
            line: heading.line,
        });
    }
    chapters
}

/// The book's own title: the first heading before the first chapter heading (`# Alice's
/// Adventures in Wonderland` above `## CHAPTER I.`), if there is one.
pub fn book_title(source: &str, opts: &MarkdownOptions) -> Option<String> {
    let document = Document::read(source, false);
    let level = opts
        .chapter_level
        .or_else(|| auto_level(&document.headings))?;
    let first = document.headings.iter().find(|h| h.level == level)?;
    let title = document
        .headings
        .iter()
        .find(|heading| heading.start < first.start)
        .map(|heading| document.slice(heading.start..heading.end).trim().to_owned())?;
    (!title.is_empty()).then_some(title)
}

/// The shallowest level that occurs more than once, else the shallowest that occurs at all.
fn auto_level(headings: &[HeadingMark]) -> Option<u8> {
    let mut counts = [0usize; 7];
    for heading in headings {
        if let Some(count) = counts.get_mut(usize::from(heading.level)) {
            *count += 1;
        }
    }
    let levels = 1..=6u8;
    let occurs = |times: usize| {
        levels
            .clone()
            .find(|&level| counts.get(usize::from(level)).is_some_and(|&n| n >= times))
    };
    occurs(2).or_else(|| occurs(1))
}

/// The pulldown-cmark extensions the reader understands. Beyond tables, footnotes and
/// strikethrough: task lists (so `[ ]` boxes are not read), heading attributes (so mdBook and
/// Pandoc `{#id}` suffixes are not read) and GFM alert blocks (so `[!NOTE]` is not read).
/// Smart punctuation stays off: the text keeps the author's own quotes and dashes. YAML
/// metadata blocks stay off because pulldown-cmark finds them anywhere in the document (any
/// `---` line with text under it and a closing line later), which would silently drop prose;
/// [`prepare`] removes front matter at the very start instead.
fn parser_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_GFM
}

#[cfg(test)]
mod tests {
    use super::source::LineCounter;
    use super::*;
    use crate::slug::{MAX_SLUG_CHARS, slug};
    use proptest::prelude::*;

    fn corpus(name: &str) -> String {
        let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {path}: {err}"))
    }

    fn auto() -> MarkdownOptions {
        MarkdownOptions::default()
    }

    /// The text of a source read as one chapter (no headings).
    fn read(source: &str) -> String {
        chapters(source, &auto())
            .into_iter()
            .map(|chapter| chapter.text)
            .collect::<Vec<_>>()
            .join("|")
    }

    #[test]
    fn the_book_title_is_the_heading_above_the_first_chapter() {
        let opts = MarkdownOptions::default();
        let book = "# The Book\n\n## One\n\nText.\n\n## Two\n\nMore.\n";
        assert_eq!(book_title(book, &opts).as_deref(), Some("The Book"));
        let no_title = "# One\n\nText.\n\n# Two\n\nMore.\n";
        assert_eq!(book_title(no_title, &opts), None);
        assert_eq!(book_title("Just text.", &opts), None);
    }

    #[test]
    fn alice_has_twelve_chapters_and_no_title_page() {
        let source = corpus("alice.md");
        assert_eq!(chapter_level(&source), Some(2));
        let chapters = chapters(&source, &auto());
        assert_eq!(chapters.len(), 12);
        let numbers: Vec<usize> = chapters.iter().map(|c| c.number).collect();
        assert_eq!(numbers, (1..=12).collect::<Vec<_>>());

        let first = &chapters[0];
        assert_eq!(first.title, "CHAPTER I. Down the Rabbit-Hole");
        assert_eq!(first.line, 3);
        assert!(
            first
                .text
                .starts_with("CHAPTER I. Down the Rabbit-Hole\n\nAlice was beginning"),
            "{:?}",
            &first.text[..80]
        );
        assert!(chapters.iter().all(|c| !c.text.contains('_')));
        assert!(chapters.iter().all(|c| !c.text.contains("* *")));
        assert!(chapters[11].text.ends_with("THE END"));
        assert_eq!(chapters[11].line, 1556);

        assert_eq!(slug(&chapters[0].title), "down-the-rabbit-hole");
        assert_eq!(slug(&chapters[1].title), "the-pool-of-tears");
        assert_eq!(slug(&chapters[11].title), "alice-s-evidence");
    }

    #[test]
    fn alice_chapter_one_reads_as_its_plain_paragraphs() {
        // The corpus has chapter I as plain text, one paragraph a line, emphasis removed.
        let source = corpus("alice.md");
        let expected = corpus("alice-ch1-lines.txt");
        let chapters = chapters(&source, &auto());
        let (title, body) = chapters[0].text.split_once("\n\n").unwrap();
        assert_eq!(title, "CHAPTER I. Down the Rabbit-Hole");
        let paragraphs: Vec<&str> = body.split("\n\n").collect();
        let lines: Vec<&str> = expected.lines().collect();
        assert_eq!(paragraphs, lines);
    }

    #[test]
    fn alice_verse_keeps_its_lines() {
        let chapters = chapters(&corpus("alice.md"), &auto());
        assert!(chapters[1].text.contains(
            "“How doth the little crocodile\nImprove his shining tail,\n\
             And pour the waters of the Nile\nOn every golden scale!\n\n\
             “How cheerfully he seems to grin,"
        ));
    }

    #[test]
    fn chinese_novel_has_a_title_page_and_five_chapters() {
        let source = corpus("chinese-novel.md");
        assert_eq!(chapter_level(&source), Some(2));
        let chapters = chapters(&source, &auto());
        assert_eq!(chapters.len(), 6);
        let title_page = &chapters[0];
        assert_eq!(title_page.number, 0);
        assert_eq!(title_page.title, "西遊記");
        assert_eq!(title_page.text, "西遊記\n\n吳承恩 著");
        assert_eq!(title_page.line, 1);

        let first = &chapters[1];
        assert_eq!(first.number, 1);
        assert_eq!(first.title, "第一回 靈根育孕源流出 心性修持大道生");
        assert_eq!(first.line, 5);
        assert!(
            first
                .text
                .starts_with("第一回 靈根育孕源流出 心性修持大道生\n\n詩曰：")
        );
        assert_eq!(slug(&first.title), "第一回-靈根育孕源流出-心性修持大道生");
        assert_eq!(chapters[5].number, 5);
        assert!(chapters[5].title.starts_with("第五回"));
    }

    #[test]
    fn rust_book_is_cut_at_its_three_level_one_headings() {
        // The file joins three book chapters: 3 level-1 headings (# Getting Started, ...),
        // 16 of level 2, 33 of level 3 and 18 of level 4. Level 1 is the shallowest level
        // that occurs more than once, so it is the chapter level.
        let source = corpus("rust-book-ch01-03.md");
        let mut counts = [0usize; 7];
        for heading in &Document::read(&source, false).headings {
            counts[usize::from(heading.level)] += 1;
        }
        assert_eq!(counts, [0, 3, 16, 33, 18, 0, 0]);
        assert_eq!(chapter_level(&source), Some(1));

        let chapters = chapters(&source, &auto());
        let titles: Vec<&str> = chapters.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Getting Started",
                "Programming a Guessing Game",
                "Common Programming Concepts"
            ]
        );
        let lines: Vec<usize> = chapters.iter().map(|c| c.line).collect();
        assert_eq!(lines, [1, 673, 1626]);
        for chapter in &chapters {
            for unread in [
                "{{#",
                "```",
                "<span",
                "</",
                "<!--",
                "http://",
                "https://",
                "fn main()",
                "<Listing",
            ] {
                assert!(
                    !chapter.text.contains(unread),
                    "chapter {} reads {unread:?}",
                    chapter.number
                );
            }
        }
        // A link whose text is a URL reads as the host; the comment after it is dropped.
        assert!(
            chapters[0]
                .text
                .contains("On Windows, go to rust-lang.org and follow the instructions")
        );
        // Text between inline tags is kept; code spans are read.
        assert!(chapters[0].text.contains("Filename: src/main.rs"));
        assert!(
            chapters[0]
                .text
                .contains("We can create a project using cargo new.")
        );
        // Deeper headings are read as paragraphs.
        assert!(chapters[0].text.contains("\n\nInstallation\n\n"));
    }

    #[test]
    fn rust_book_tables_are_read_row_by_row() {
        let chapters = chapters(&corpus("rust-book-ch01-03.md"), &auto());
        let concepts = &chapters[2].text;
        assert!(
            concepts.contains(
                "\n\nLength, Signed, Unsigned.\n8-bit, i8, u8.\n16-bit, i16, u16.\n\
                 32-bit, i32, u32.\n64-bit, i64, u64.\n128-bit, i128, u128.\n\
                 Architecture-dependent, isize, usize.\n\n"
            ),
            "{concepts}"
        );
        assert!(concepts.contains("Hex, 0xff.\n"));
        assert!(concepts.contains("Byte (u8 only), b'A'.\n\n"));
    }

    #[test]
    fn rust_book_code_is_read_on_request_without_directives() {
        let opts = MarkdownOptions {
            read_code: true,
            ..auto()
        };
        let chapters = chapters(&corpus("rust-book-ch01-03.md"), &opts);
        assert_eq!(chapters.len(), 3);
        assert!(chapters.iter().any(|c| {
            c.text
                .contains("fn main() {\nprintln!(\"Hello, world!\");\n}")
        }));
        assert!(chapters.iter().all(|c| !c.text.contains("{{#")));
        assert!(chapters.iter().all(|c| !c.text.contains("```")));
    }

    #[test]
    fn inline_markup_is_not_read() {
        assert_eq!(read("Alice was _very_ tired"), "Alice was very tired");
        assert_eq!(read("a **b** ~~c~~ *d* __e__"), "a b c d e");
        assert_eq!(
            read("see [the book](https://x.org/y \"T\") now"),
            "see the book now"
        );
        assert_eq!(
            read("see [the book][b] now\n\n[b]: https://x.org"),
            "see the book now"
        );
        assert_eq!(read("a ![alt text](pic.png) b"), "a b");
        assert_eq!(read("a ![alt ![inner](i.png)](pic.png) b"), "a b");
        assert_eq!(
            read("say <span class=\"x\">word</span> now"),
            "say word now"
        );
        assert_eq!(read("one<br>two<br/>three"), "one\ntwo\nthree");
        assert_eq!(read("call `foo()` here"), "call foo() here");
        assert_eq!(read("a &amp; b"), "a & b");
        // The writer's rules (`manifest/speech.rs`) hold across the pieces the parser splits
        // text into: "“", "_", "Un_important".
        assert_eq!(read("“_Un_important,” he said"), "“Unimportant,” he said");
        assert_eq!(read("`read_line` and \\_esc"), "read_line and esc");
        assert_eq!(read("note[^1] here\n\n[^1]: The note."), "note here");
        assert_eq!(read("- [ ] buy\n- [x] sell"), "buy\n\nsell");
        assert_eq!(read("> [!NOTE]\n> Heads up."), "Heads up.");
    }

    #[test]
    fn urls_read_as_their_host() {
        assert_eq!(read("<https://example.com/a/b>"), "example.com");
        assert_eq!(
            read("[https://x.org/p?q=1](https://x.org)'s page"),
            "x.org's page"
        );
        assert_eq!(read("mail <me@example.com>"), "mail me@example.com");
    }

    #[test]
    fn blocks_are_paragraphs() {
        assert_eq!(read("<div>\nhidden\n</div>\n\nshown"), "shown");
        assert_eq!(read("text\n\n    indented code\n\nmore"), "text\n\nmore");
        assert_eq!(
            read("text\n\n```rust\nfn a() {}\n```\n\nmore"),
            "text\n\nmore"
        );
        assert_eq!(
            read("> quoted\n\n- one\n- two\n\n1. three"),
            "quoted\n\none\n\ntwo\n\nthree"
        );
        assert_eq!(read("before\n\n* * *\n\nafter"), "before\n\nafter");
        assert_eq!(
            read("verse one\nverse two  \nverse three"),
            "verse one\nverse two\nverse three"
        );
        assert_eq!(
            read("| a | b |\n|---|---|\n| 1 |  |\n| x. | y! |"),
            "a, b.\n1.\nx. y!"
        );
    }

    #[test]
    fn code_is_read_on_request() {
        let opts = MarkdownOptions {
            read_code: true,
            ..auto()
        };
        let text = |source: &str| chapters(source, &opts).remove(0).text;
        assert_eq!(
            text("a\n\n```\nlet x = 1;\n\n    y();\n```\n\nb"),
            "a\n\nlet x = 1;\ny();\n\nb"
        );
        assert_eq!(
            text("a\n\n    indented\n    code\n\nb"),
            "a\n\nindented\ncode\n\nb"
        );
        assert_eq!(
            text("a\n\n```\n{{#include foo.rs:bar}}\nkept\n```"),
            "a\n\nkept"
        );
    }

    #[test]
    fn directives_are_removed_wherever_they_are() {
        assert_eq!(read("Here {{#include foo.rs:bar}} it is."), "Here it is.");
        assert_eq!(read("{{#include foo.rs}}     and then"), "and then");
        assert_eq!(read("call `{{#playground x.rs}}` now"), "call now");
        assert_eq!(read("a \\{{#include x}} b {{ #title T }}"), "a b");
        assert_eq!(
            read("only\n\n{{#rustdoc_include ../a_b/*c*.rs:all}}"),
            "only"
        );
        assert_eq!(read("# T\n\n{{#include a}}\n\nbody"), "T\n\nbody");
        assert_eq!(
            read("unclosed {{#include a\n\nnext"),
            "unclosed {{#include a\n\nnext"
        );
        assert_eq!(read("braces {{ not }} {x}"), "braces {{ not }} {x}");
    }

    #[test]
    fn headings_cut_chapters() {
        let source = "# Book\n\nBy Someone.\n\n## One\n\nFirst.\n\n### Deeper\n\nStill one.\n\n## Two\n\n## Three\nThird.\n";
        let chapters = chapters(source, &auto());
        let summary: Vec<(usize, &str, &str, usize)> = chapters
            .iter()
            .map(|c| (c.number, c.title.as_str(), c.text.as_str(), c.line))
            .collect();
        assert_eq!(
            summary,
            [
                (0, "Book", "Book\n\nBy Someone.", 1),
                (1, "One", "One\n\nFirst.\n\nDeeper\n\nStill one.", 5),
                (2, "Two", "Two", 13),
                (3, "Three", "Three\n\nThird.", 15),
            ]
        );
    }

    #[test]
    fn title_page_without_prose_is_left_out() {
        let source = "# Book\n\n<img src=x>\n\n![cover](c.png)\n\n### Subtitle\n\n## One\n\nText.\n\n## Two\n\nMore.";
        let chapters = chapters(source, &auto());
        assert_eq!(chapters.len(), 2);
        assert_eq!(chapters[0].number, 1);
        // Prose before any heading makes a title page with no title.
        let chapters = super::chapters("Foreword.\n\n# One\n\nA\n\n# Two\n\nB", &auto());
        assert_eq!((chapters[0].number, chapters[0].title.as_str()), (0, ""));
        assert_eq!(chapters[0].text, "Foreword.");
    }

    #[test]
    fn forced_chapter_level() {
        let source = "# Book\n\n### A\n\na\n\n### B *x*\n\nb\n\n#### deep\n\nd\n\n# Two";
        assert_eq!(chapter_level(source), Some(1));
        let opts = MarkdownOptions {
            chapter_level: Some(3),
            ..auto()
        };
        let chapters = chapters(source, &opts);
        let titles: Vec<&str> = chapters.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(titles, ["A", "B x"]);
        // Shallower and deeper headings are read where they stand.
        assert_eq!(chapters[1].text, "B x\n\nb\n\ndeep\n\nd\n\nTwo");
        assert_eq!(chapters[1].line, 7);
        // A level with no headings reads the document as one chapter.
        let opts = MarkdownOptions {
            chapter_level: Some(5),
            ..auto()
        };
        let whole = super::chapters(source, &opts);
        assert_eq!(whole.len(), 1);
        assert_eq!((whole[0].number, whole[0].title.as_str()), (1, ""));
        assert!(whole[0].text.starts_with("Book\n\nA\n\na"));
    }

    #[test]
    fn auto_level_rules() {
        assert_eq!(chapter_level("no headings"), None);
        assert_eq!(chapter_level("### only\n\n#### once"), Some(3));
        assert_eq!(chapter_level("# T\n\n## A\n\n## B\n\n# U"), Some(1));
        assert_eq!(chapter_level("# T\n\n## A\n\n## B"), Some(2));
        // Headings in block quotes and lists do not count.
        assert_eq!(chapter_level("# T\n\n> ## A\n\n- ## B\n\n## C"), Some(1));
        // Setext headings count like ATX ones.
        assert_eq!(chapter_level("T\n=\n\nA\n-\n\nB\n-"), Some(2));
    }

    #[test]
    fn document_without_headings_is_one_chapter() {
        let chapters = chapters("Just text.\n\nMore text.", &auto());
        assert_eq!(
            chapters,
            [Chapter {
                number: 1,
                title: String::new(),
                text: "Just text.\n\nMore text.".to_owned(),
                line: 1,
            }]
        );
        assert!(super::chapters("", &auto()).is_empty());
        assert!(super::chapters("<!-- nothing -->\n\n```\ncode\n```", &auto()).is_empty());
    }

    #[test]
    fn empty_chapters_still_count() {
        let chapters = chapters("# A\n\n# ![img](x)\n\n# C\n\ntext", &auto());
        let summary: Vec<(usize, &str, &str)> = chapters
            .iter()
            .map(|c| (c.number, c.title.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(summary, [(1, "A", "A"), (2, "", ""), (3, "C", "C\n\ntext")]);
    }

    #[test]
    fn heading_markup_and_attributes_are_not_read() {
        let chapters = chapters(
            "# The *Start* {#start}\n\nx\n\n# [Linked](u) `code` <em>tag</em>\n\ny\n\nSetext<br>over two\nlines\n=====",
            &auto(),
        );
        let titles: Vec<&str> = chapters.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            ["The Start", "Linked code tag", "Setext over two lines"]
        );
    }

    #[test]
    fn crlf_and_front_matter() {
        let source = "\u{feff}---\r\ntitle: Book\r\n---\r\n\r\n# One\r\n\r\nline a\r\nline b\r\n\r\n```\r\ncode\r\n```\r\n\r\n# Two\r\n\r\ntext\r\n";
        let chapters = chapters(source, &auto());
        let summary: Vec<(&str, &str, usize)> = chapters
            .iter()
            .map(|c| (c.title.as_str(), c.text.as_str(), c.line))
            .collect();
        assert_eq!(
            summary,
            [
                ("One", "One\n\nline a\nline b", 5),
                ("Two", "Two\n\ntext", 14)
            ]
        );
        let opts = MarkdownOptions {
            read_code: true,
            ..auto()
        };
        assert_eq!(
            super::chapters(source, &opts)[0].text,
            "One\n\nline a\nline b\n\ncode"
        );
        // A thematic break that is not front matter is kept as a break.
        assert_eq!(read("---\n\ntext\n\n---\n\nmore"), "text\n\nmore");
    }

    #[test]
    fn line_numbers_count_every_line_ending() {
        let mut lines = LineCounter::new("a\nb\r\nc\rd\n\ne");
        assert_eq!(lines.line_at(0), 1);
        assert_eq!(lines.line_at(2), 2);
        assert_eq!(lines.line_at(5), 3);
        assert_eq!(lines.line_at(7), 4);
        assert_eq!(lines.line_at(10), 6);
        assert_eq!(lines.line_at(3), 2);
        assert_eq!(lines.line_at(1000), 6);
    }

    /// Markdown-ish tokens, so that generated documents exercise the parser's corners.
    fn markdownish() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("#".to_owned()),
            Just("## ".to_owned()),
            Just("*".to_owned()),
            Just("_".to_owned()),
            Just("[".to_owned()),
            Just("](".to_owned()),
            Just(")".to_owned()),
            Just("`".to_owned()),
            Just("```".to_owned()),
            Just("{{#".to_owned()),
            Just("}}".to_owned()),
            Just("<div>".to_owned()),
            Just("<br>".to_owned()),
            Just("|".to_owned()),
            Just("---".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("    ".to_owned()),
            Just("> ".to_owned()),
            Just("- ".to_owned()),
            Just("[^1]".to_owned()),
            Just("https://".to_owned()),
            Just("Chapter IV.".to_owned()),
            "[a-zA-Z0-9 .]{0,6}",
            "\\PC{0,3}",
        ];
        prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn never_panics_on_arbitrary_text(source in "\\PC*", level in 0u8..8) {
            let opts = MarkdownOptions { chapter_level: Some(level), read_code: true };
            let _ = chapters(&source, &opts);
            let _ = chapters(&source, &MarkdownOptions::default());
            let _ = chapter_level(&source);
            prop_assert!(slug(&source).chars().count() <= MAX_SLUG_CHARS);
        }

        #[test]
        fn never_panics_on_markdownish_text(source in markdownish(), read_code: bool) {
            let opts = MarkdownOptions { chapter_level: None, read_code };
            for chapter in chapters(&source, &opts) {
                prop_assert_eq!(chapter.text.trim(), chapter.text.as_str());
                prop_assert!(!chapter.text.contains('\r'));
                prop_assert!(!chapter.title.contains(['\n', '\r']));
                let slug = slug(&chapter.title);
                prop_assert!(!slug.starts_with('-') && !slug.ends_with('-'));
                prop_assert!(!slug.contains("--"));
            }
        }
    }
}
