//! The Markdown reader: turns a Markdown book into chapters of plain, speakable text.
//!
//! This module owns everything between the Markdown source and the text of each chapter item:
//! choosing the chapter heading level, cutting the book at those headings, removing markup so
//! that only what a narrator would say is left, and the file-name slug of a chapter title.
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

use std::borrow::Cow;
use std::ops::Range;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use unicode_segmentation::UnicodeSegmentation;

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

/// Longest slug, in chars: with a 4-byte worst case per char this keeps `NN-slug.ext` well
/// under the usual 255-byte file-name limit.
const MAX_SLUG_CHARS: usize = 60;

/// File-name slug of a title: lowercase; Unicode letters and digits kept (CJK stays as is),
/// everything else becomes '-', runs of '-' collapsed, no leading/trailing '-'; a leading
/// "chapter <number>" prefix (arabic or roman numerals, English "chapter"/"part" case-insensitive,
/// followed by optional '.' ':' or '-') is dropped, since the file name already carries the
/// number: "CHAPTER II. The Pool of Tears" → "the-pool-of-tears". Truncated to at most 60 chars
/// on a char boundary (no trailing '-'). May return "" (the caller then uses the number alone).
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    let mut chars = 0;
    // A '-' is owed before the next kept grapheme; writing it lazily collapses runs and keeps
    // it off both ends.
    let mut dash_owed = false;
    // Graphemes, not chars, so that a letter keeps its combining marks (decomposed accents,
    // Indic vowel signs), which are not alphanumeric on their own.
    for grapheme in without_chapter_prefix(title).graphemes(true) {
        if !grapheme.chars().next().is_some_and(char::is_alphanumeric) {
            dash_owed = !slug.is_empty();
            continue;
        }
        let lower = grapheme.to_lowercase();
        let needed = lower.chars().count() + usize::from(dash_owed);
        if chars + needed > MAX_SLUG_CHARS {
            break;
        }
        if dash_owed {
            slug.push('-');
            dash_owed = false;
        }
        slug.push_str(&lower);
        chars += needed;
    }
    slug
}

/// `title` without a leading "Chapter 3." / "PART IV:" prefix, or `title` itself.
fn without_chapter_prefix(title: &str) -> &str {
    let trimmed = title.trim_start();
    let word_len = trimmed
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(trimmed.len());
    let (word, rest) = trimmed.split_at(word_len);
    if !(word.eq_ignore_ascii_case("chapter") || word.eq_ignore_ascii_case("part")) {
        return title;
    }
    let numbered = rest.trim_start();
    if numbered.len() == rest.len() {
        return title;
    }
    let number_len = numbered
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(numbered.len());
    let (number, rest) = numbered.split_at(number_len);
    let is_number = !number.is_empty()
        && (number.bytes().all(|b| b.is_ascii_digit()) || is_roman_numeral(number));
    if !is_number {
        return title;
    }
    let rest = rest.trim_start();
    rest.strip_prefix(['.', ':', '-']).unwrap_or(rest)
}

/// Whether `word` is a roman numeral in canonical form (either case), so that "Chapter Dim
/// Lights" keeps its "dim". "Mix" still passes (it is 1009); such titles are rare enough.
fn is_roman_numeral(word: &str) -> bool {
    const DIGITS: [(u32, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let upper = word.to_ascii_uppercase();
    let mut rest = upper.as_str();
    // Greedy matching against the canonical digit table accepts exactly the canonical
    // numerals once repeats are limited: at most three of M, C, X, I and one of anything else.
    for (value, digit) in DIGITS {
        let max_repeats = if [1000, 100, 10, 1].contains(&value) {
            3
        } else {
            1
        };
        for _ in 0..max_repeats {
            match rest.strip_prefix(digit) {
                Some(shorter) => rest = shorter,
                None => break,
            }
        }
    }
    rest.is_empty() && !upper.is_empty()
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

/// The whole document as speech text, with the place of every top-level heading in it.
#[derive(Debug)]
struct Document {
    text: String,
    headings: Vec<HeadingMark>,
}

/// Where a top-level heading's text is in [`Document::text`].
#[derive(Debug)]
struct HeadingMark {
    level: u8,
    /// 1-based source line.
    line: usize,
    /// Byte range of the heading text; the previous block ends before `start` with "\n\n".
    start: usize,
    end: usize,
    /// Whether any text outside headings was written before this heading.
    prose_before: bool,
}

impl Document {
    /// Reads `source` in one pass.
    fn read(source: &str, read_code: bool) -> Self {
        let source = prepare(source);
        let mut reader = Reader::new(&source, read_code);
        for (event, range) in Parser::new_ext(&source, parser_options()).into_offset_iter() {
            reader.event(event, range);
        }
        reader.finish()
    }

    /// A slice of the text; the ranges come from heading marks, which are always on char
    /// boundaries, but a wrong one yields "" rather than a panic.
    fn slice(&self, range: Range<usize>) -> &str {
        self.text.get(range).unwrap_or_default()
    }
}

/// What the reader does with the events it is given.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Events are read aloud.
    Reading,
    /// Inside a code block that is read aloud (`read_code`): its text is read as written.
    ReadingCode,
    /// Inside something that is not read (image, footnote definition, HTML block, skipped code
    /// block); `depth` counts the open tags, including the one that started the skip.
    Skipping { depth: usize },
}

/// Whether the reader is inside a heading, and which kind.
#[derive(Debug, Clone, Copy)]
enum HeadingState {
    Outside,
    /// A heading inside a block quote or list: read as a paragraph, never a chapter cut.
    Nested,
    /// A heading at the top level of the document: a possible chapter cut.
    TopLevel {
        level: u8,
        line: usize,
        start: usize,
        prose_before: bool,
    },
}

/// The state machine over pulldown-cmark events.
struct Reader<'s> {
    read_code: bool,
    speech: Speech,
    lines: LineCounter<'s>,
    headings: Vec<HeadingMark>,
    state: State,
    heading: HeadingState,
    /// Open block quotes and lists: a heading inside one is not a chapter cut.
    nesting: usize,
    /// Length of the text when the current table row started.
    row_start: usize,
    /// Whether text outside headings has been written.
    prose: bool,
}

impl<'s> Reader<'s> {
    fn new(source: &'s str, read_code: bool) -> Self {
        Reader {
            read_code,
            speech: Speech::default(),
            lines: LineCounter::new(source),
            headings: Vec::new(),
            state: State::Reading,
            heading: HeadingState::Outside,
            nesting: 0,
            row_start: 0,
            prose: false,
        }
    }

    fn finish(self) -> Document {
        Document {
            text: self.speech.text,
            headings: self.headings,
        }
    }

    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        if let State::Skipping { depth } = self.state {
            let depth = match event {
                Event::Start(_) => depth + 1,
                Event::End(_) => depth.saturating_sub(1),
                _ => depth,
            };
            self.state = if depth == 0 {
                State::Reading
            } else {
                State::Skipping { depth }
            };
            return;
        }
        match event {
            Event::Text(text) => {
                let kind = match self.state {
                    State::ReadingCode => TextKind::Code,
                    State::Reading | State::Skipping { .. } => TextKind::Prose,
                };
                self.say(&text, kind);
            }
            Event::Code(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                self.say(&text, TextKind::Code);
            }
            Event::Start(tag) => {
                self.speech.end_word();
                self.start(tag, range.start);
            }
            Event::End(tag) => {
                self.speech.end_word();
                self.end(tag);
            }
            Event::SoftBreak | Event::HardBreak => self.line_break(),
            Event::InlineHtml(html) if is_line_break_tag(&html) => self.line_break(),
            Event::Rule => self.speech.gap(Gap::Paragraph),
            Event::InlineHtml(_)
            | Event::Html(_)
            | Event::FootnoteReference(_)
            | Event::TaskListMarker(_) => self.speech.end_word(),
        }
    }

    fn start(&mut self, tag: Tag<'_>, offset: usize) {
        match tag {
            Tag::Heading { level, .. } => self.open_heading(level, offset),
            Tag::BlockQuote(_) | Tag::List(_) => {
                self.nesting += 1;
                self.speech.gap(Gap::Paragraph);
            }
            Tag::CodeBlock(_) if self.read_code => {
                self.state = State::ReadingCode;
                self.speech.gap(Gap::Paragraph);
            }
            Tag::CodeBlock(_)
            | Tag::HtmlBlock
            | Tag::Image { .. }
            | Tag::FootnoteDefinition(_)
            | Tag::MetadataBlock(_) => self.state = State::Skipping { depth: 1 },
            Tag::Paragraph
            | Tag::Item
            | Tag::Table(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition => self.speech.gap(Gap::Paragraph),
            Tag::TableHead | Tag::TableRow => self.row_start = self.speech.len(),
            Tag::TableCell
            | Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::Link { .. } => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => self.close_heading(),
            TagEnd::BlockQuote(_) | TagEnd::List(_) => {
                self.nesting = self.nesting.saturating_sub(1);
                self.speech.gap(Gap::Paragraph);
            }
            TagEnd::CodeBlock => {
                self.state = State::Reading;
                self.speech.gap(Gap::Paragraph);
            }
            TagEnd::Paragraph
            | TagEnd::Item
            | TagEnd::Table
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition => self.speech.gap(Gap::Paragraph),
            TagEnd::TableHead | TagEnd::TableRow => self.speech.end_row(self.row_start),
            TagEnd::TableCell => self.speech.gap(Gap::Clause),
            TagEnd::HtmlBlock
            | TagEnd::FootnoteDefinition
            | TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image
            | TagEnd::MetadataBlock(_) => {}
        }
    }

    fn open_heading(&mut self, level: HeadingLevel, offset: usize) {
        if self.nesting > 0 {
            self.speech.gap(Gap::Paragraph);
            self.heading = HeadingState::Nested;
            return;
        }
        // Written out now rather than left pending, so that the heading text starts exactly
        // at `start` and a chapter can be cut there.
        let start = self.speech.paragraph_now();
        self.heading = HeadingState::TopLevel {
            level: level_number(level),
            line: self.lines.line_at(offset),
            start,
            prose_before: self.prose,
        };
    }

    fn close_heading(&mut self) {
        if let HeadingState::TopLevel {
            level,
            line,
            start,
            prose_before,
        } = self.heading
        {
            self.headings.push(HeadingMark {
                level,
                line,
                start,
                end: self.speech.len(),
                prose_before,
            });
        }
        self.heading = HeadingState::Outside;
        self.speech.gap(Gap::Paragraph);
    }

    /// A line break is kept inside a paragraph, so verse keeps its lines; a title is one line.
    fn line_break(&mut self) {
        let gap = match self.heading {
            HeadingState::Outside => Gap::Line,
            HeadingState::Nested | HeadingState::TopLevel { .. } => Gap::Space,
        };
        self.speech.gap(gap);
    }

    fn say(&mut self, text: &str, kind: TextKind) {
        let wrote = self.speech.push(text, kind);
        if wrote && matches!(self.heading, HeadingState::Outside) {
            self.prose = true;
        }
    }
}

fn level_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// `<br>`, `<br/>`, `<br />`: the one inline tag that changes how text reads.
fn is_line_break_tag(html: &str) -> bool {
    let name = html
        .strip_prefix('<')
        .unwrap_or_default()
        .trim_end_matches(['>', '/', ' ']);
    name.eq_ignore_ascii_case("br")
}

/// Whitespace owed between the last word written and the next one; a stronger gap wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    #[default]
    None,
    Space,
    /// Between table cells: ", " (or just a space after punctuation).
    Clause,
    Line,
    Paragraph,
}

/// Where a piece of text comes from, which decides how literally it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    /// Text of the document: a stray `_` in it is a leftover emphasis marker, not read.
    Prose,
    /// Code spans and code blocks: read as written.
    Code,
}

/// What the word being written so far turned out to be. The parser may hand over one word as
/// several text events with no whitespace between them (it splits text at delimiters it could
/// not pair: "“_Un_important" arrives as "“", "_", "Un_important"), so this survives from one
/// event to the next and is reset by whitespace and by any other event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Word {
    #[default]
    Plain,
    /// A URL, already read as its host: the rest of it is dropped.
    Url,
    /// A `_` at the start of a word was dropped as an emphasis marker; the next `_` inside the
    /// word closes it and is dropped too ("_Un_important" reads "Unimportant").
    OpenUnderscore,
}

/// Speech text being written. Whitespace is never written directly: it becomes a pending
/// [`Gap`], written only when a word follows, so removed markup leaves no doubled spaces or
/// empty paragraphs and the text never ends in whitespace.
#[derive(Debug, Default)]
struct Speech {
    text: String,
    gap: Gap,
    word: Word,
}

impl Speech {
    fn len(&self) -> usize {
        self.text.len()
    }

    fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
        self.word = Word::Plain;
    }

    /// Marks the end of a run of text events: whatever comes next starts a new word.
    fn end_word(&mut self) {
        self.word = Word::Plain;
    }

    /// Writes a paragraph break now (unless nothing was written yet) and returns the length.
    fn paragraph_now(&mut self) -> usize {
        self.gap = Gap::None;
        self.word = Word::Plain;
        if !self.text.is_empty() {
            self.text.push_str("\n\n");
        }
        self.text.len()
    }

    /// Ends a table row that started at `row_start`: a period if the row said something that
    /// does not already end in punctuation, then a line break.
    fn end_row(&mut self, row_start: usize) {
        if self.text.len() > row_start && !ends_with_punctuation(&self.text) {
            self.text.push('.');
        }
        self.gap(Gap::Line);
    }

    /// Writes `text`, collapsing whitespace; returns whether any word was written.
    fn push(&mut self, text: &str, kind: TextKind) -> bool {
        let mut wrote = false;
        let mut rest = text;
        while !rest.is_empty() {
            let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (word, after) = rest.split_at(word_len);
            if !word.is_empty() {
                wrote |= self.push_word(word, kind);
            }
            let space_len = after
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(after.len());
            let (space, after) = after.split_at(space_len);
            if !space.is_empty() {
                // Newlines only reach here from code blocks (in prose the parser turns them
                // into break events); they keep code on its lines.
                self.gap(if space.contains(['\n', '\r']) {
                    Gap::Line
                } else {
                    Gap::Space
                });
            }
            rest = after;
        }
        wrote
    }

    fn push_word(&mut self, word: &str, kind: TextKind) -> bool {
        if self.word == Word::Url {
            return false;
        }
        let spoken = if let Some(host) = url_as_host(word) {
            self.word = Word::Url;
            Cow::Owned(host)
        } else if kind == TextKind::Prose && word.contains('_') {
            Cow::Owned(self.without_underscores(word))
        } else {
            Cow::Borrowed(word)
        };
        if spoken.is_empty() {
            return false;
        }
        let gap = std::mem::take(&mut self.gap);
        if !self.text.is_empty() {
            let separator = match gap {
                Gap::None => "",
                Gap::Space => " ",
                Gap::Clause if ends_with_punctuation(&self.text) => " ",
                Gap::Clause => ", ",
                Gap::Line => "\n",
                Gap::Paragraph => "\n\n",
            };
            self.text.push_str(separator);
        }
        self.text.push_str(&spoken);
        true
    }

    /// `word` with its underscores as a voice should take them: an emphasis marker the parser
    /// left as text is dropped, and one joining two words ("hello_world") becomes a space.
    fn without_underscores(&mut self, word: &str) -> String {
        let mut spoken = String::with_capacity(word.len());
        // The char before: from the text already written unless whitespace comes between.
        let mut before = match self.gap {
            Gap::None => self.text.chars().next_back(),
            _ => None,
        };
        let mut chars = word.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '_' {
                spoken.push(c);
                before = Some(c);
                continue;
            }
            let after_word_char = before.is_some_and(char::is_alphanumeric);
            let inside_word =
                after_word_char && chars.peek().is_some_and(|next| next.is_alphanumeric());
            if inside_word && self.word == Word::OpenUnderscore {
                self.word = Word::Plain;
            } else if inside_word {
                spoken.push(' ');
                before = Some(' ');
            } else if !after_word_char {
                self.word = Word::OpenUnderscore;
            }
        }
        spoken
    }
}

fn ends_with_punctuation(text: &str) -> bool {
    text.ends_with([
        '.', ',', ';', ':', '!', '?', '…', '。', '，', '、', '；', '：', '！', '？',
    ])
}

/// A word holding an `http(s)://` URL, as it should be read: the host without "www.", with
/// any punctuation around the URL kept ("(https://x.org/a)." → "(x.org)."). None if the word
/// holds no URL.
fn url_as_host(word: &str) -> Option<String> {
    let lead_len = word.find(char::is_alphanumeric)?;
    let (lead, url) = word.split_at(lead_len);
    let scheme_len = ["https://", "http://"].into_iter().find_map(|scheme| {
        url.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| scheme.len())
    })?;
    let after_scheme = url.get(scheme_len..).unwrap_or_default();
    let trailing = [
        '.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '\'', '’', '”', '»', '>',
    ];
    let core = after_scheme.trim_end_matches(trailing);
    let tail = after_scheme.get(core.len()..).unwrap_or_default();
    let host_len = core.find(['/', '?', '#', ':', '@']).unwrap_or(core.len());
    let host = core.get(..host_len).unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    Some(format!("{lead}{host}{tail}"))
}

/// Counts lines up to byte offsets that mostly increase, so a whole document costs one scan.
struct LineCounter<'s> {
    source: &'s [u8],
    offset: usize,
    line: usize,
}

impl<'s> LineCounter<'s> {
    fn new(source: &'s str) -> Self {
        LineCounter {
            source: source.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// 1-based line of byte `offset`. A line ends at "\n", "\r\n" or a lone "\r", as in
    /// CommonMark.
    fn line_at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.source.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let scanned = self.source.get(self.offset..offset).unwrap_or_default();
        for (index, &byte) in scanned.iter().enumerate() {
            let next = self.source.get(self.offset + index + 1);
            if byte == b'\n' || (byte == b'\r' && next != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.offset = offset;
        self.line
    }
}

/// The source as the parser should see it: without a byte-order mark, a leading YAML front
/// matter block, or mdBook `{{#...}}` directives. Line breaks are all kept, so byte offsets
/// in the prepared text still give the source's line numbers.
fn prepare(source: &str) -> Cow<'_, str> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let body_start = front_matter_len(source);
    let (front, body) = source.split_at(body_start);
    if front.is_empty() && !body.contains("{{") {
        return Cow::Borrowed(source);
    }
    let mut prepared = String::with_capacity(source.len());
    // Front matter lines become empty lines.
    prepared.extend(front.chars().filter(|&c| c == '\n' || c == '\r'));
    for line in body.split_inclusive(['\n', '\r']) {
        strip_directives(line, &mut prepared);
    }
    Cow::Owned(prepared)
}

/// Length of a YAML front matter block at the start of `source`: a `---` line, a first line
/// that is not blank, and a closing `---` or `...` line. 0 if there is none.
fn front_matter_len(source: &str) -> usize {
    let mut lines = source.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return 0;
    }
    let mut len = source
        .find('\n')
        .map_or(source.len(), |newline| newline + 1);
    for (index, line) in lines.enumerate() {
        len += line.len();
        let content = line.trim_end();
        if index == 0 && content.trim().is_empty() {
            return 0;
        }
        if index > 0 && (content == "---" || content == "...") {
            return len;
        }
    }
    0
}

/// Copies one line to `out` without its mdBook directives (`{{#include ...}}`, `{{ #playground
/// ... }}`, ... and the escaped `\{{#...}}` form): any `{{`, optional blanks, `#`, up to the
/// next `}}` on the same line. A directive that starts the line's content is removed with the
/// blanks after it, so the rest of the line keeps its indentation (four spaces would make it a
/// code block); elsewhere it becomes one space, which keeps a code span around it a code span.
fn strip_directives(line: &str, out: &mut String) {
    let mut rest = line;
    let mut at_line_start = true;
    while let Some(open) = rest.find("{{") {
        let (before, from_open) = rest.split_at(open);
        let after_braces = from_open.get(2..).unwrap_or_default();
        let Some(args) = after_braces
            .trim_start_matches([' ', '\t'])
            .strip_prefix('#')
        else {
            // Not a directive: keep one brace and look again from the next.
            out.push_str(before);
            out.push('{');
            rest = from_open.get(1..).unwrap_or_default();
            at_line_start = false;
            continue;
        };
        let Some(close) = args.find("}}") else {
            // No "}}" on the rest of the line, so no later "{{#" can be closed either.
            break;
        };
        let after = args.get(close + 2..).unwrap_or_default();
        let before = before.strip_suffix('\\').unwrap_or(before);
        out.push_str(before);
        if at_line_start && before.trim_start_matches([' ', '\t']).is_empty() {
            rest = after.trim_start_matches([' ', '\t']);
        } else {
            out.push(' ');
            rest = after;
            at_line_start = false;
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn corpus(name: &str) -> String {
        let path = format!("{}/../shared/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
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
        // Underscores in prose are leftover emphasis markers or join words; code keeps them.
        assert_eq!(read("“_Un_important,” he said"), "“Unimportant,” he said");
        assert_eq!(
            read("_hello_world.rs_ and x_y and _ alone_"),
            "hello world.rs and x y and alone"
        );
        assert_eq!(read("`read_line` and \\_esc"), "read_line and esc");
        assert_eq!(read("note[^1] here\n\n[^1]: The note."), "note here");
        assert_eq!(read("- [ ] buy\n- [x] sell"), "buy\n\nsell");
        assert_eq!(read("> [!NOTE]\n> Heads up."), "Heads up.");
    }

    #[test]
    fn urls_read_as_their_host() {
        assert_eq!(read("<https://example.com/a/b>"), "example.com");
        assert_eq!(
            read("(see https://www.example.com/a_b_c)."),
            "(see example.com)."
        );
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

    #[test]
    fn slugs() {
        assert_eq!(slug("CHAPTER II. The Pool of Tears"), "the-pool-of-tears");
        assert_eq!(slug("Chapter 3: A Caucus-Race"), "a-caucus-race");
        assert_eq!(slug("part iv - The End"), "the-end");
        assert_eq!(slug("Chapter XII"), "");
        assert_eq!(slug("Chapterhouse 5"), "chapterhouse-5");
        assert_eq!(slug("Chapter Dim Lights"), "chapter-dim-lights");
        assert_eq!(slug("Chapter IIII"), "chapter-iiii");
        assert_eq!(slug("The Chapter 2 Problem"), "the-chapter-2-problem");
        assert_eq!(slug("  --Hello,   World!--  "), "hello-world");
        assert_eq!(slug("Alice’s Evidence"), "alice-s-evidence");
        assert_eq!(slug("Café Ŝtraße Ÿ"), "café-ŝtraße-ÿ");
        assert_eq!(slug("Cafe\u{301} ok"), "cafe\u{301}-ok");
        assert_eq!(slug("हिन्दी पाठ"), "हिन्दी-पाठ");
        assert_eq!(slug("第一回 靈根"), "第一回-靈根");
        assert_eq!(slug("!!!"), "");
        assert_eq!(slug(""), "");
        let long = slug(&"word ".repeat(30));
        assert!(long.chars().count() <= MAX_SLUG_CHARS);
        assert_eq!(long, format!("{}word", "word-".repeat(11)));
        let cjk = slug(&"字".repeat(100));
        assert_eq!(cjk.chars().count(), MAX_SLUG_CHARS);
    }

    #[test]
    fn roman_numerals() {
        for numeral in ["I", "iv", "IX", "xii", "XL", "MCMXCIV", "mmxxvi"] {
            assert!(is_roman_numeral(numeral), "{numeral}");
        }
        for word in ["", "IIII", "IC", "VV", "DID", "abc", "MMMM"] {
            assert!(!is_roman_numeral(word), "{word}");
        }
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
