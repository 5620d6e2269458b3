//! A content document (XHTML) as speech text, cut where the table of contents points into it.
//!
//! The rules are the Markdown reader's, and the words are written by the same writer
//! (`manifest/speech.rs`: whitespace, URLs, underscores, invisible characters, table cells):
//! no markup is read; links by their text; images by nothing; block elements (paragraphs,
//! headings, list items, quotes, ...) are separated by a paragraph break `"\n\n"`, `<br>` by a
//! line break; a table is read row by row; `<pre>` is code, its line breaks kept.
//! Not read at all: the `<head>`, scripts, styles, SVG and MathML, footnote and endnote
//! bodies inside a chapter, noteref marks (`epub:type="noteref"`, `role="doc-noteref"`, and
//! links inside `<sup>`, which is how books without semantics mark them), page-break markers
//! (`epub:type="pagebreak"`, `role="doc-pagebreak"`). The parts of an `<hgroup>` ("I", "Down the Rabbit-Hole") are one
//! heading, joined by ". ", or written as the table of contents writes the title when it has
//! the same words.

use super::markup::{self, Event, Tag};
use crate::manifest::speech::{Gap, Speech, TextKind};

/// Where the table of contents cuts a document: an element id, and the entry's title.
#[derive(Debug, Clone)]
pub(super) struct Cut {
    pub(super) id: String,
    pub(super) title: String,
}

/// A stretch of a document between cuts.
#[derive(Debug, Default, Clone)]
pub(super) struct Segment {
    /// Index into the cuts that started it; None for the stretch from the document's start.
    pub(super) cut: Option<usize>,
    pub(super) text: String,
    /// Whether the text starts with a heading.
    pub(super) starts_with_heading: bool,
    /// The first heading's text.
    pub(super) heading: Option<String>,
    /// `epub:type` values and `doc-` roles of the body and of the elements opened before the
    /// segment's first word: what the segment is (`chapter`, `colophon`, `toc`, ...).
    pub(super) types: Vec<String>,
    /// Words outside headings, and how many of them are the text of links (a contents list
    /// is all links).
    pub(super) prose_words: usize,
    pub(super) link_words: usize,
}

/// A document read: its `<title>` and its segments in document order.
#[derive(Debug, Default)]
pub(super) struct Content {
    pub(super) title: Option<String>,
    pub(super) segments: Vec<Segment>,
}

/// Elements that are not read, with everything in them. `<label>` captions a form control,
/// and SiSU books put each paragraph's number in one.
const HIDDEN: [&str; 18] = [
    "script", "style", "template", "svg", "math", "img", "audio", "video", "object", "iframe",
    "noscript", "canvas", "button", "select", "input", "textarea", "map", "label",
];

/// Elements that start and end a paragraph.
const BLOCKS: [&str; 32] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "center",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hr",
    "legend",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "section",
    "summary",
    "table",
    "ul",
    "menu",
    "html",
];

/// Elements whose `epub:type` says what a whole document or part of one is.
const SECTIONS: [&str; 7] = ["body", "section", "article", "div", "nav", "aside", "main"];

/// Types of notes: not read inside a chapter, but a document that is all notes (an endnotes
/// page kept with `--keep-front-matter`) is read.
const NOTES: [&str; 7] = [
    "footnote",
    "footnotes",
    "endnote",
    "endnotes",
    "rearnote",
    "rearnotes",
    "note",
];

/// Reads the document `text`, cutting it at the elements whose id is one of `cuts`' ids.
/// `first_title` is the table-of-contents title of the stretch before the first cut.
pub(super) fn read(text: &str, cuts: &[Cut], first_title: &str, read_code: bool) -> Content {
    let mut reader = Reader::new(cuts, first_title);
    reader.read_code = read_code;
    markup::events(text, &mut |event| reader.event(event));
    reader.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not read, nor anything inside.
    Hidden,
    /// The `<head>`: hidden, but its `<title>` is the document's title.
    Head,
    /// The document's `<title>` (inside the hidden `<head>`).
    DocTitle,
    Block,
    Heading,
    Hgroup,
    /// A heading or paragraph inside an `<hgroup>`: one part of its heading.
    HeadingPart,
    Pre,
    Row,
    Cell,
    Sup,
    Link,
    LineBreak,
    Inline,
}

/// A position in the speech text of one segment.
#[derive(Debug, Clone, Copy)]
struct Mark {
    segment: usize,
    len: usize,
    gap: Gap,
}

#[derive(Debug)]
struct Frame {
    kind: Kind,
    mark: Mark,
    /// For `Sup`: a link was inside. For `Link`: its href has a fragment (points at a note?).
    flag: bool,
    /// For `Link`: the words written outside any `<sup>` when it opened.
    words_outside_sup: usize,
}

struct Reader<'c> {
    cuts: &'c [Cut],
    first_title: &'c str,
    started: Vec<bool>,
    speech: Speech,
    frames: Vec<Frame>,
    hidden: usize,
    sups: usize,
    pre: usize,
    headings: usize,
    row_start: usize,
    words_outside_sup: usize,
    body_types: Vec<String>,
    content: Content,
    current: Segment,
    /// Number of segments finished, i.e. the index of the current one.
    segment_no: usize,
    /// Whether `<pre>` is read (`--read-code`).
    read_code: bool,
    /// Links open around the current text.
    links: usize,
}

impl<'c> Reader<'c> {
    fn new(cuts: &'c [Cut], first_title: &'c str) -> Self {
        Reader {
            cuts,
            first_title,
            started: vec![false; cuts.len()],
            speech: Speech::default(),
            frames: Vec::new(),
            hidden: 0,
            sups: 0,
            pre: 0,
            headings: 0,
            row_start: 0,
            words_outside_sup: 0,
            body_types: Vec::new(),
            content: Content::default(),
            current: Segment::default(),
            segment_no: 0,
            read_code: false,
            links: 0,
        }
    }

    fn finish(mut self) -> Content {
        self.end_segment();
        self.content
    }

    fn mark(&self) -> Mark {
        Mark {
            segment: self.segment_no,
            len: self.speech.text.len(),
            gap: self.speech.gap,
        }
    }

    /// The title of the table-of-contents entry the current segment belongs to.
    fn current_title(&self) -> &str {
        match self.current.cut {
            Some(i) => self.cuts.get(i).map_or("", |c| c.title.as_str()),
            None => self.first_title,
        }
    }

    fn end_segment(&mut self) {
        let mut segment = std::mem::take(&mut self.current);
        segment.text = without_gutenberg_boilerplate(std::mem::take(&mut self.speech.text));
        self.speech = Speech::default();
        self.content.segments.push(segment);
        self.segment_no = self.segment_no.saturating_add(1);
        self.words_outside_sup = 0;
    }

    fn start_segment(&mut self, cut: usize) {
        self.end_segment();
        self.current.cut = Some(cut);
        self.current.types = self.body_types.clone();
        // Headings open at the cut go on in the new segment, from its start.
        let here = self.mark();
        for frame in &mut self.frames {
            if matches!(frame.kind, Kind::Heading | Kind::Hgroup) {
                frame.mark = here;
            }
        }
    }

    fn at_top(&self) -> bool {
        self.speech.text.is_empty()
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Open(tag) => {
                self.speech.end_word();
                self.open(tag);
            }
            Event::Close => {
                self.speech.end_word();
                self.close();
            }
            Event::Text(text) => {
                if self.frames.last().is_some_and(|f| f.kind == Kind::DocTitle) {
                    let title = self.content.title.get_or_insert_with(String::new);
                    title.push_str(&text);
                } else if self.hidden == 0 {
                    self.say(&text);
                }
            }
        }
    }

    fn say(&mut self, text: &str) {
        let was_empty = self.at_top();
        let kind = if self.pre > 0 {
            TextKind::Code
        } else {
            TextKind::Prose
        };
        let words = self.speech.push(text, kind);
        if words == 0 {
            return;
        }
        if was_empty {
            self.current.starts_with_heading = self.headings > 0;
        }
        if self.sups == 0 {
            self.words_outside_sup = self.words_outside_sup.saturating_add(words);
        }
        if self.headings == 0 {
            self.current.prose_words = self.current.prose_words.saturating_add(words);
            if self.links > 0 {
                self.current.link_words = self.current.link_words.saturating_add(words);
            }
        }
    }

    fn open(&mut self, tag: Tag) {
        let kind = if self.hidden > 0 {
            if tag.name == "title" && self.frames.last().is_some_and(|f| f.kind == Kind::Head) {
                Kind::DocTitle
            } else {
                Kind::Hidden
            }
        } else {
            self.classify(&tag)
        };
        let frame = Frame {
            kind,
            mark: self.mark(),
            flag: false,
            words_outside_sup: self.words_outside_sup,
        };
        match kind {
            Kind::Hidden | Kind::Head => self.hidden = self.hidden.saturating_add(1),
            Kind::DocTitle => {}
            Kind::Block => self.speech.gap(Gap::Paragraph),
            Kind::Heading | Kind::Hgroup => {
                self.speech.gap(Gap::Paragraph);
                self.headings = self.headings.saturating_add(1);
            }
            Kind::HeadingPart => self.speech.gap(Gap::Part),
            Kind::Pre => {
                self.speech.gap(Gap::Paragraph);
                self.pre = self.pre.saturating_add(1);
            }
            Kind::Row => self.row_start = self.speech.text.len(),
            Kind::Cell | Kind::Inline => {}
            Kind::LineBreak => self.speech.gap(Gap::Line),
            Kind::Sup => self.sups = self.sups.saturating_add(1),
            Kind::Link => {
                self.links = self.links.saturating_add(1);
                if let Some(sup) = self.frames.iter_mut().rev().find(|f| f.kind == Kind::Sup) {
                    sup.flag |= tag.attribute("href").is_some();
                }
            }
        }
        let mut frame = frame;
        if kind == Kind::Link {
            frame.flag = tag.attribute("href").is_some_and(|h| h.contains('#'));
        }
        // The mark of a heading is where its text starts, after the gap before it.
        if matches!(kind, Kind::Heading | Kind::Hgroup) {
            frame.mark = self.mark();
        }
        self.frames.push(frame);
    }

    /// What to do with an element (outside hidden ones); also notes the segment's types and
    /// starts a new segment at a cut.
    fn classify(&mut self, tag: &Tag) -> Kind {
        if let Some(id) = tag.attribute("id")
            && let Some(cut) = self.cuts.iter().position(|c| c.id == id)
            && self.started.get(cut) == Some(&false)
        {
            if let Some(started) = self.started.get_mut(cut) {
                *started = true;
            }
            self.start_segment(cut);
        }
        if tag.name == "body" {
            self.body_types = tag.types().map(str::to_owned).collect();
        }
        let at_top = self.at_top();
        let name = tag.name.as_str();
        if at_top && SECTIONS.contains(&name) {
            self.current.types.extend(tag.types().map(str::to_owned));
        }
        let in_hgroup = self.frames.iter().any(|f| f.kind == Kind::Hgroup);
        let hidden = HIDDEN.contains(&name)
            || tag.is("noteref")
            || tag.is("pagebreak")
            || tag.attribute("hidden").is_some()
            || (!at_top && NOTES.iter().any(|n| tag.is(n)))
            || is_navigation(tag)
            || (!at_top && is_generated_apparatus(tag))
            || is_hidden_by_style(tag)
            || is_gutenberg_boilerplate(tag)
            || (name == "pre" && !self.read_code);
        if name == "head" {
            Kind::Head
        } else if hidden {
            Kind::Hidden
        } else if in_hgroup && (is_heading(name) || name == "p" || tag.is("title")) {
            Kind::HeadingPart
        } else if name == "hgroup" {
            Kind::Hgroup
        } else if is_heading(name) || (BLOCKS.contains(&name) && tag.is("title")) {
            Kind::Heading
        } else if name == "pre" {
            Kind::Pre
        } else if name == "tr" {
            Kind::Row
        } else if name == "td" || name == "th" {
            Kind::Cell
        } else if name == "br" {
            Kind::LineBreak
        } else if name == "sup" {
            Kind::Sup
        } else if name == "a" {
            Kind::Link
        } else if BLOCKS.contains(&name) {
            Kind::Block
        } else {
            Kind::Inline
        }
    }

    fn close(&mut self) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        match frame.kind {
            Kind::Hidden | Kind::Head => self.hidden = self.hidden.saturating_sub(1),
            Kind::DocTitle | Kind::Inline | Kind::LineBreak => {}
            Kind::Block | Kind::Pre => {
                if frame.kind == Kind::Pre {
                    self.pre = self.pre.saturating_sub(1);
                }
                self.speech.gap(Gap::Paragraph);
            }
            Kind::Heading | Kind::Hgroup => {
                self.headings = self.headings.saturating_sub(1);
                self.close_heading(&frame);
                self.speech.gap(Gap::Paragraph);
            }
            Kind::HeadingPart => self.speech.gap(Gap::Part),
            Kind::Row => self.speech.end_row(self.row_start),
            Kind::Cell => self.speech.gap(Gap::Clause),
            Kind::Sup => {
                self.sups = self.sups.saturating_sub(1);
                if frame.flag {
                    self.rollback(frame.mark);
                }
            }
            Kind::Link => {
                self.links = self.links.saturating_sub(1);
                let inside_sup_only = self.words_outside_sup == frame.words_outside_sup;
                let wrote = self.speech.text.len() > frame.mark.len;
                if frame.flag && wrote && inside_sup_only && self.sups == 0 {
                    self.rollback(frame.mark);
                }
            }
        }
    }

    /// Takes back what was written since `mark` (a note mark), if it is in this segment.
    fn rollback(&mut self, mark: Mark) {
        if mark.segment == self.segment_no && mark.len <= self.speech.text.len() {
            self.speech.take_back_note(mark.len, mark.gap);
        }
    }

    fn close_heading(&mut self, frame: &Frame) {
        if frame.mark.segment != self.segment_no || self.current.heading.is_some() {
            return;
        }
        let Some(heading) = self.speech.text.get(frame.mark.len..) else {
            return;
        };
        let heading = heading.trim().to_owned();
        if heading.is_empty() {
            return;
        }
        if frame.kind == Kind::Hgroup {
            // "I. Down the Rabbit-Hole" is said as the table of contents writes it, when that
            // has the same words ("I: Down the Rabbit-Hole").
            let title = self.current_title();
            if !title.is_empty() && same_words(title, &heading) {
                let title = title.to_owned();
                self.speech.rewind(frame.mark.len, frame.mark.gap);
                self.speech.push(&title, TextKind::Prose);
                self.current.heading = Some(title);
                return;
            }
        }
        self.current.heading = Some(heading);
    }
}

/// Navigation that is no part of the text: `<nav>` (but a table of contents, which is front
/// matter left out or kept whole), `role="navigation"` (the bars that documentation generators
/// repeat on every page: Sphinx's "related" and sidebar).
fn is_navigation(tag: &Tag) -> bool {
    let toc = tag.is("toc") || tag.is("landmarks") || tag.is("page-list");
    (tag.name == "nav" && !toc)
        || tag
            .attribute("role")
            .is_some_and(|r| r.split_whitespace().any(|r| r == "navigation"))
}

/// What documentation generators add for readers of a page, not for listeners: Sphinx writes
/// an external link's address again after it (`<span class="link-target"> [https://…]</span>`);
/// DocBook XSL opens each chapter with its own table of contents (`<div class="toc">`, and
/// `list-of-tables` and the like) and gathers its footnotes at its end (`<div
/// class="footnotes">`), as docutils (Sphinx) does in `<aside class="footnote-list">`. Not at the top of a document, so a page that is only one of these
/// (kept with `--keep-front-matter`) is still read.
fn is_generated_apparatus(tag: &Tag) -> bool {
    let Some(class) = tag.attribute("class") else {
        return false;
    };
    let mut classes = class.split_whitespace();
    match tag.name.as_str() {
        "span" => classes.any(|c| c == "link-target"),
        "aside" => classes.any(|c| c == "footnote-list"),
        "div" => classes.any(|c| {
            matches!(c, "toc" | "footnotes" | "footnote-list")
                || (c.starts_with("list-of-") && c.len() > "list-of-".len())
        }),
        _ => false,
    }
}

/// Content the book hides: `aria-hidden="true"`, or an inline `display: none`.
fn is_hidden_by_style(tag: &Tag) -> bool {
    tag.attribute("aria-hidden")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || tag.attribute("style").is_some_and(|style| {
            let style: String = style
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            style.split(';').any(|d| d == "display:none")
        })
}

/// Project Gutenberg's header and licence, as its Ebookmaker marks them.
fn is_gutenberg_boilerplate(tag: &Tag) -> bool {
    const IDS: [&str; 5] = [
        "pg-header",
        "pg-footer",
        "pg-machine-header",
        "pg-start-separator",
        "pg-end-separator",
    ];
    tag.attribute("class").is_some_and(|c| {
        c.split_whitespace()
            .any(|c| matches!(c, "pg-boilerplate" | "pgheader" | "pgfooter"))
    }) || tag.attribute("id").is_some_and(|id| IDS.contains(&id))
}

/// `text` without Project Gutenberg's header (everything up to the `*** START OF THE PROJECT
/// GUTENBERG EBOOK ... ***` line) and licence (from the `*** END OF ...` line on), for books
/// whose boilerplate is not marked up as such.
fn without_gutenberg_boilerplate(text: String) -> String {
    let marker = |paragraph: &str, word: &str| {
        let p = paragraph
            .trim_start_matches(['*', ' '])
            .to_ascii_uppercase();
        paragraph.trim_start().starts_with("***")
            && p.starts_with(word)
            && p.contains("PROJECT GUTENBERG")
    };
    if !text.contains("***") {
        return text;
    }
    let paragraphs: Vec<&str> = text.split("\n\n").collect();
    let start = paragraphs
        .iter()
        .position(|p| marker(p, "START OF"))
        .map_or(0, |i| i + 1);
    let end = paragraphs
        .iter()
        .position(|p| marker(p, "END OF"))
        .unwrap_or(paragraphs.len())
        .max(start);
    if start == 0 && end == paragraphs.len() {
        return text;
    }
    paragraphs[start..end].join("\n\n")
}

fn is_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

/// Whether `a` and `b` have the same letters and digits, ignoring case, spacing and punctuation.
pub(super) fn same_words(a: &str, b: &str) -> bool {
    let letters = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    letters(a) == letters(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xhtml(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><head><title>Doc title</title><style>p {{ x: y }}</style></head><body>{body}</body></html>"#
        )
    }

    fn speak(body: &str) -> String {
        let content = read(&xhtml(body), &[], "", false);
        assert_eq!(content.segments.len(), 1);
        content.segments[0].text.clone()
    }

    #[test]
    fn blocks_are_paragraphs_and_inline_markup_is_not_read() {
        assert_eq!(
            speak(
                "<h1>Title</h1>\n  <p>One <i>two</i>\n three <a href=\"x.html\">four</a>.</p><p>Five<br/>six</p><img src=\"a.png\" alt=\"A picture\"/>"
            ),
            "Title\n\nOne two three four.\n\nFive\nsix"
        );
    }

    #[test]
    fn notes_page_breaks_and_invisible_characters_are_not_read() {
        let body = concat!(
            "<p>It was<span epub:type=\"pagebreak\" id=\"p4\" title=\"4\">4</span> a dark",
            "<a href=\"notes.xhtml#n1\" epub:type=\"noteref\">1</a> night",
            "<a href=\"#n2\" role=\"doc-noteref\">2</a>, so\u{ad}ft",
            "<sup><a href=\"#fn3\">[3]</a></sup> and still<a href=\"#fn4\"><sup>4</sup></a>\u{2060}—",
            "<sup>th</sup>.</p>",
            "<aside epub:type=\"footnote\" id=\"n2\"><p>A note.</p></aside>",
            "<div role=\"doc-pagebreak\" aria-label=\"5\">5</div>"
        );
        assert_eq!(speak(body), "It was a dark night, soft and still—th.");
    }

    #[test]
    fn words_are_written_by_the_shared_writer() {
        assert_eq!(
            speak(
                "<p>See <a href=\"https://x.org\">https://www.x.org/a_b</a>'s page, _Un_<i>important</i> and hello_world.</p><pre>read_line()\n  next</pre>"
            ),
            "See x.org's page, Unimportant and hello world."
        );
        // `<pre>` is code: read only with --read-code, its line breaks kept.
        let content = read(
            &xhtml("<p>Call it.</p><pre>read_line()\n  next</pre>"),
            &[],
            "",
            true,
        );
        assert_eq!(content.segments[0].text, "Call it.\n\nread_line()\nnext");
    }

    #[test]
    fn tables_are_read_cell_by_cell() {
        assert_eq!(
            speak(
                "<table><tr><th>Length</th><th>Signed</th></tr><tr><td>8-bit</td><td>i8</td></tr></table><p>After.</p>"
            ),
            "Length, Signed.\n8-bit, i8.\n\nAfter."
        );
    }

    #[test]
    fn an_hgroup_is_one_heading_said_as_the_toc_says_it() {
        let body = r#"<section epub:type="chapter"><hgroup><h2 epub:type="ordinal">I</h2><p epub:type="title">Down the Rabbit-Hole</p></hgroup><p>Alice was beginning.</p></section>"#;
        let content = read(&xhtml(body), &[], "I: Down the Rabbit-Hole", false);
        let segment = &content.segments[0];
        assert_eq!(
            segment.text,
            "I: Down the Rabbit-Hole\n\nAlice was beginning."
        );
        assert_eq!(segment.heading.as_deref(), Some("I: Down the Rabbit-Hole"));
        assert!(segment.starts_with_heading);
        assert_eq!(segment.types, ["chapter"]);
        let content = read(&xhtml(body), &[], "", false);
        assert_eq!(
            content.segments[0].text,
            "I. Down the Rabbit-Hole\n\nAlice was beginning."
        );
        assert_eq!(content.title.as_deref(), Some("Doc title"));
    }

    #[test]
    fn a_document_is_cut_where_the_toc_points() {
        let body = r#"<p>Preface words.</p><h2 id="c1">One</h2><p>First.</p><div id="c2"><h2>Two</h2><p>Second.</p></div>"#;
        let cuts = [
            Cut {
                id: "c1".into(),
                title: "One".into(),
            },
            Cut {
                id: "c2".into(),
                title: "Two".into(),
            },
        ];
        let content = read(&xhtml(body), &cuts, "Book", false);
        let got: Vec<(Option<usize>, &str, bool)> = content
            .segments
            .iter()
            .map(|s| (s.cut, s.text.as_str(), s.starts_with_heading))
            .collect();
        assert_eq!(
            got,
            vec![
                (None, "Preface words.", false),
                (Some(0), "One\n\nFirst.", true),
                (Some(1), "Two\n\nSecond.", true),
            ]
        );
    }

    #[test]
    fn tag_soup_reads_like_xhtml() {
        let html = "<html><head><title>T</title></head><body><p>One&nbsp;&mdash; two<p>Three &amp; four<br>five</body>";
        let content = read(html, &[], "", false);
        assert_eq!(content.segments[0].text, "One — two\n\nThree & four\nfive");
        assert_eq!(content.title.as_deref(), Some("T"));
    }

    #[test]
    fn an_endnotes_document_is_read_but_notes_inside_a_chapter_are_not() {
        let notes = r#"<section epub:type="endnotes"><h2>Endnotes</h2><ol><li id="n1"><p>A note.</p></li></ol></section>"#;
        let content = read(&xhtml(notes), &[], "", false);
        assert_eq!(content.segments[0].text, "Endnotes\n\nA note.");
        assert_eq!(content.segments[0].types, ["endnotes"]);
    }
}
