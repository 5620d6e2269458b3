//! Speech text as it is written: words, gaps and line breaks, and how URLs and punctuation read.

use std::borrow::Cow;

/// Whitespace owed between the last word written and the next one; a stronger gap wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Gap {
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
pub(super) enum TextKind {
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
pub(super) enum Word {
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
pub(super) struct Speech {
    pub(super) text: String,
    pub(super) gap: Gap,
    pub(super) word: Word,
}

impl Speech {
    pub(super) fn len(&self) -> usize {
        self.text.len()
    }

    pub(super) fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
        self.word = Word::Plain;
    }

    /// Marks the end of a run of text events: whatever comes next starts a new word.
    pub(super) fn end_word(&mut self) {
        self.word = Word::Plain;
    }

    /// Writes a paragraph break now (unless nothing was written yet) and returns the length.
    pub(super) fn paragraph_now(&mut self) -> usize {
        self.gap = Gap::None;
        self.word = Word::Plain;
        if !self.text.is_empty() {
            self.text.push_str("\n\n");
        }
        self.text.len()
    }

    /// Ends a table row that started at `row_start`: a period if the row said something that
    /// does not already end in punctuation, then a line break.
    pub(super) fn end_row(&mut self, row_start: usize) {
        if self.text.len() > row_start && !ends_with_punctuation(&self.text) {
            self.text.push('.');
        }
        self.gap(Gap::Line);
    }

    /// Writes `text`, collapsing whitespace; returns whether any word was written.
    pub(super) fn push(&mut self, text: &str, kind: TextKind) -> bool {
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

    pub(super) fn push_word(&mut self, word: &str, kind: TextKind) -> bool {
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
    pub(super) fn without_underscores(&mut self, word: &str) -> String {
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

pub(super) fn ends_with_punctuation(text: &str) -> bool {
    text.ends_with([
        '.', ',', ';', ':', '!', '?', '…', '。', '，', '、', '；', '：', '！', '？',
    ])
}

/// A word holding an `http(s)://` URL, as it should be read: the host without "www.", with
/// any punctuation around the URL kept ("(https://x.org/a)." → "(x.org)."). None if the word
/// holds no URL.
pub(super) fn url_as_host(word: &str) -> Option<String> {
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
