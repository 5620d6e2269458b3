//! The state machine over pulldown-cmark's events: the whole book as speech text, with the
//! top-level headings marked.

use std::ops::Range;

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

use super::parser_options;
use super::source::{LineCounter, prepare};
use crate::manifest::speech::{Gap, Speech, TextKind};

/// The whole document as speech text, with the place of every top-level heading in it.
#[derive(Debug)]
pub(super) struct Document {
    pub(super) text: String,
    pub(super) headings: Vec<HeadingMark>,
}

/// Where a top-level heading's text is in [`Document::text`].
#[derive(Debug)]
pub(super) struct HeadingMark {
    pub(super) level: u8,
    /// 1-based source line.
    pub(super) line: usize,
    /// Byte range of the heading text; the previous block ends before `start` with "\n\n".
    pub(super) start: usize,
    pub(super) end: usize,
    /// Whether any text outside headings was written before this heading.
    pub(super) prose_before: bool,
}

impl Document {
    /// Reads `source` in one pass.
    pub(super) fn read(source: &str, read_code: bool) -> Self {
        let source = prepare(source);
        let mut reader = Reader::new(&source, read_code);
        for (event, range) in Parser::new_ext(&source, parser_options()).into_offset_iter() {
            reader.event(event, range);
        }
        reader.finish()
    }

    /// A slice of the text; the ranges come from heading marks, which are always on char
    /// boundaries, but a wrong one yields "" rather than a panic.
    pub(super) fn slice(&self, range: Range<usize>) -> &str {
        self.text.get(range).unwrap_or_default()
    }
}

/// What the reader does with the events it is given.
#[derive(Debug, Clone, Copy)]
pub(super) enum State {
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
pub(super) enum HeadingState {
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
pub(super) struct Reader<'s> {
    pub(super) read_code: bool,
    pub(super) speech: Speech,
    pub(super) lines: LineCounter<'s>,
    pub(super) headings: Vec<HeadingMark>,
    pub(super) state: State,
    pub(super) heading: HeadingState,
    /// Open block quotes and lists: a heading inside one is not a chapter cut.
    pub(super) nesting: usize,
    /// Length of the text when the current table row started.
    pub(super) row_start: usize,
    /// Whether text outside headings has been written.
    pub(super) prose: bool,
}

impl<'s> Reader<'s> {
    pub(super) fn new(source: &'s str, read_code: bool) -> Self {
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

    pub(super) fn finish(self) -> Document {
        Document {
            text: self.speech.text,
            headings: self.headings,
        }
    }

    pub(super) fn event(&mut self, event: Event<'_>, range: Range<usize>) {
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

    pub(super) fn start(&mut self, tag: Tag<'_>, offset: usize) {
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

    pub(super) fn end(&mut self, tag: TagEnd) {
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

    pub(super) fn open_heading(&mut self, level: HeadingLevel, offset: usize) {
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

    pub(super) fn close_heading(&mut self) {
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
    pub(super) fn line_break(&mut self) {
        let gap = match self.heading {
            HeadingState::Outside => Gap::Line,
            HeadingState::Nested | HeadingState::TopLevel { .. } => Gap::Space,
        };
        self.speech.gap(gap);
    }

    pub(super) fn say(&mut self, text: &str, kind: TextKind) {
        let words = self.speech.push(text, kind);
        if words > 0 && matches!(self.heading, HeadingState::Outside) {
            self.prose = true;
        }
    }
}

pub(super) fn level_number(level: HeadingLevel) -> u8 {
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
pub(super) fn is_line_break_tag(html: &str) -> bool {
    let name = html
        .strip_prefix('<')
        .unwrap_or_default()
        .trim_end_matches(['>', '/', ' ']);
    name.eq_ignore_ascii_case("br")
}
