//! The spoken-text writer every marked-up input kind uses (Markdown and EPUB): words, gaps and
//! line breaks, and how URLs, underscores and invisible characters read.
//!
//! The readers decide what is read (which markup, which elements); this decides how the words
//! they hand over are written:
//! - whitespace is never written directly: it becomes a pending [`Gap`], written only when a
//!   word follows, so removed markup leaves no doubled spaces or empty paragraphs, and the text
//!   never starts or ends in whitespace;
//! - a URL (`http://`, `https://`) is read as its host without "www.", punctuation around it
//!   kept: `(https://www.example.com/a_b).` reads `(example.com).`;
//! - in prose, a `_` is a leftover emphasis marker (dropped: `_Un_important` reads
//!   `Unimportant`) or joins two words (a space: `hello_world` reads `hello world`); in code it
//!   is read as written;
//! - soft hyphens (U+00AD), word joiners (U+2060) and zero-width no-break spaces (U+FEFF) are
//!   never read;
//! - table cells are joined by `", "`, the parts of a heading group by `". "` (just a space
//!   after punctuation), and a table row ends with `"."`.

use std::borrow::Cow;

/// Whitespace owed between the last word written and the next one; a stronger gap wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Gap {
    #[default]
    None,
    Space,
    /// Between table cells: ", " (or just a space after punctuation).
    Clause,
    /// Between the parts of a heading group: ". " (or just a space after punctuation).
    Part,
    Line,
    Paragraph,
}

/// Where a piece of text comes from, which decides how literally it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextKind {
    /// Text of the document: a stray `_` in it is a leftover emphasis marker, not read, and a
    /// line break in it is a space.
    Prose,
    /// Code (spans, blocks, `<pre>`): read as written, line breaks kept.
    Code,
}

/// What the word being written so far turned out to be. A reader may hand over one word as
/// several pieces of text with no whitespace between them (pulldown-cmark splits text at
/// delimiters it could not pair: "“_Un_important" arrives as "“", "_", "Un_important"), so this
/// survives from one piece to the next and is reset by whitespace, gaps and [`Speech::end_word`].
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

/// Speech text being written (see the module's rules).
#[derive(Debug, Default)]
pub(super) struct Speech {
    pub(super) text: String,
    pub(super) gap: Gap,
    word: Word,
    /// A note mark was just taken back ([`Speech::take_back_note`]): the space written before
    /// it is owed only to a word, not to punctuation ("user[1], you" reads "user, you").
    note_taken_back: bool,
}

impl Speech {
    pub(super) fn len(&self) -> usize {
        self.text.len()
    }

    pub(super) fn gap(&mut self, gap: Gap) {
        self.gap = self.gap.max(gap);
        self.word = Word::Plain;
    }

    /// Marks the end of a run of text: whatever comes next starts a new word.
    pub(super) fn end_word(&mut self) {
        self.word = Word::Plain;
    }

    /// Takes the text back to `len` bytes with `gap` pending, as it was when they were noted.
    pub(super) fn rewind(&mut self, len: usize, gap: Gap) {
        self.text.truncate(len);
        self.gap = gap;
        self.word = Word::Plain;
    }

    /// Takes back a note mark written since `len` bytes (see [`Speech::rewind`]): punctuation
    /// that follows the mark then joins the word before it.
    pub(super) fn take_back_note(&mut self, len: usize, gap: Gap) {
        self.rewind(len, gap);
        self.note_taken_back = true;
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

    /// Writes `text`, collapsing whitespace (line breaks kept in code); returns the number of
    /// words written.
    pub(super) fn push(&mut self, text: &str, kind: TextKind) -> usize {
        let text = without_invisible(text);
        let mut words = 0;
        let mut rest = text.as_ref();
        while !rest.is_empty() {
            let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let (word, after) = rest.split_at(word_len);
            if !word.is_empty() && self.push_word(word, kind) {
                words += 1;
            }
            let space_len = after
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(after.len());
            let (space, after) = after.split_at(space_len);
            if !space.is_empty() {
                let line = kind == TextKind::Code && space.contains(['\n', '\r']);
                self.gap(if line { Gap::Line } else { Gap::Space });
            }
            rest = after;
        }
        words
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
        let after_note = std::mem::take(&mut self.note_taken_back);
        if !self.text.is_empty() {
            let separator = match gap {
                Gap::None => "",
                Gap::Space if after_note && spoken.starts_with(NOTE_FOLLOWERS) => "",
                Gap::Space => " ",
                Gap::Clause | Gap::Part if ends_with_punctuation(&self.text) => " ",
                Gap::Clause => ", ",
                Gap::Part => ". ",
                Gap::Line => "\n",
                Gap::Paragraph => "\n\n",
            };
            self.text.push_str(separator);
        }
        self.text.push_str(&spoken);
        true
    }

    /// `word` with its underscores as a voice should take them: an emphasis marker left as text
    /// is dropped, and one joining two words ("hello_world") becomes a space.
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

/// Punctuation that joins the word before a note mark once the mark is taken back.
const NOTE_FOLLOWERS: &[char] = &[',', '.', ';', ':', '!', '?', ')', '’', '”'];

/// Characters that are never read: soft hyphen, word joiner, zero-width no-break space.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{2060}' | '\u{feff}')
}

fn without_invisible(text: &str) -> Cow<'_, str> {
    if text.contains(is_invisible) {
        Cow::Owned(text.chars().filter(|&c| !is_invisible(c)).collect())
    } else {
        Cow::Borrowed(text)
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
    // A scheme alone ("http://, https://, or ftp://") names no host: it is read as written.
    if host.is_empty() {
        return None;
    }
    Some(format!("{lead}{host}{tail}"))
}

/// The rules, tested once for every reader: each case is written as one piece of prose, then
/// as the pieces a reader may split it into.
#[cfg(test)]
mod tests {
    use super::*;

    fn speak(pieces: &[(&str, TextKind)]) -> String {
        let mut speech = Speech::default();
        for (text, kind) in pieces {
            speech.push(text, *kind);
        }
        speech.text
    }

    fn prose(text: &str) -> String {
        speak(&[(text, TextKind::Prose)])
    }

    #[test]
    fn whitespace_collapses_and_never_leads_or_trails() {
        assert_eq!(prose("  one \t two\n three  "), "one two three");
        assert_eq!(
            speak(&[("let x = 1;\r\n\n  y();\n", TextKind::Code)]),
            "let x = 1;\ny();"
        );
    }

    #[test]
    fn urls_read_as_their_host() {
        assert_eq!(prose("https://example.com/a/b"), "example.com");
        assert_eq!(
            prose("(see https://www.example.com/a_b_c)."),
            "(see example.com)."
        );
        assert_eq!(prose("«HTTP://X.org:80/p?q»,"), "«X.org»,");
        assert_eq!(
            prose("(http://, https://, or ftp://)"),
            "(http://, https://, or ftp://)"
        );
        assert_eq!(
            prose("ftp://x.org and me@example.com"),
            "ftp://x.org and me@example.com"
        );
        // The rest of a URL split over pieces is dropped; whitespace or a gap ends it.
        let mut speech = Speech::default();
        speech.push("https://x.org/p", TextKind::Prose);
        speech.push("ath/more", TextKind::Prose);
        speech.end_word();
        speech.push("'s page", TextKind::Prose);
        assert_eq!(speech.text, "x.org's page");
        // In code too: a voice cannot say a path.
        assert_eq!(
            speak(&[("curl https://x.org/install.sh", TextKind::Code)]),
            "curl x.org"
        );
    }

    #[test]
    fn underscores_in_prose_are_markers_or_spaces_and_in_code_are_read() {
        assert_eq!(prose("“_Un_important,” he said"), "“Unimportant,” he said");
        assert_eq!(
            speak(&[
                ("“", TextKind::Prose),
                ("_", TextKind::Prose),
                ("Un_important,”", TextKind::Prose)
            ]),
            "“Unimportant,”"
        );
        assert_eq!(
            prose("hello_world.rs_ and x_y and _ alone_"),
            "hello world.rs and x y and alone"
        );
        assert_eq!(speak(&[("read_line", TextKind::Code)]), "read_line");
    }

    #[test]
    fn invisible_characters_are_not_read() {
        assert_eq!(prose("so\u{ad}ft\u{2060}— \u{feff}x"), "soft— x");
        assert_eq!(prose("\u{ad}"), "");
        assert_eq!(speak(&[("a\u{ad}b", TextKind::Code)]), "ab");
    }

    #[test]
    fn gaps_write_the_strongest_separator_before_the_next_word() {
        let mut speech = Speech::default();
        speech.gap(Gap::Paragraph);
        speech.push("Title", TextKind::Prose);
        speech.gap(Gap::Part);
        speech.push("Sub", TextKind::Prose);
        speech.gap(Gap::Paragraph);
        let row = speech.len();
        speech.push("a", TextKind::Prose);
        speech.gap(Gap::Clause);
        speech.push("b!", TextKind::Prose);
        speech.gap(Gap::Clause);
        speech.push("c", TextKind::Prose);
        speech.end_row(row);
        let row = speech.len();
        speech.push("x.", TextKind::Prose);
        speech.end_row(row);
        speech.gap(Gap::Space);
        speech.gap(Gap::Line);
        speech.push("last", TextKind::Prose);
        speech.gap(Gap::Paragraph);
        assert_eq!(speech.text, "Title. Sub\n\na, b! c.\nx.\nlast");
        let mark = (speech.len(), speech.gap);
        speech.push("note", TextKind::Prose);
        speech.rewind(mark.0, mark.1);
        speech.push("next", TextKind::Prose);
        assert_eq!(speech.text, "Title. Sub\n\na, b! c.\nx.\nlast\n\nnext");
        assert_eq!(speech.paragraph_now(), speech.len());
        assert!(speech.text.ends_with("next\n\n"));
    }

    #[test]
    fn punctuation_after_a_note_mark_taken_back_joins_the_word_before() {
        let mut speech = Speech::default();
        // A note mark taken back leaves no space before the punctuation after it, and the
        // space before a word.
        speech.push(" user ", TextKind::Prose);
        let mark = (speech.len(), speech.gap);
        speech.push("[1]", TextKind::Prose);
        speech.take_back_note(mark.0, mark.1);
        speech.push(", you", TextKind::Prose);
        let mark = (speech.len(), speech.gap);
        speech.push(" [2]", TextKind::Prose);
        speech.take_back_note(mark.0, mark.1);
        speech.push(" then", TextKind::Prose);
        assert!(speech.text.ends_with("user, you then"), "{:?}", speech.text);
        speech.push(" ,", TextKind::Prose);
        assert!(speech.text.ends_with("then ,"), "only after a note");
    }
}
