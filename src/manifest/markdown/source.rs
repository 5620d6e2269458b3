//! Preparing the source before parsing (front matter, mdBook directives), and line numbers.

use std::borrow::Cow;

/// Counts lines up to byte offsets that mostly increase, so a whole document costs one scan.
pub(super) struct LineCounter<'s> {
    pub(super) source: &'s [u8],
    pub(super) offset: usize,
    pub(super) line: usize,
}

impl<'s> LineCounter<'s> {
    pub(super) fn new(source: &'s str) -> Self {
        LineCounter {
            source: source.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// 1-based line of byte `offset`. A line ends at "\n", "\r\n" or a lone "\r", as in
    /// CommonMark.
    pub(super) fn line_at(&mut self, offset: usize) -> usize {
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
pub(super) fn prepare(source: &str) -> Cow<'_, str> {
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
pub(super) fn front_matter_len(source: &str) -> usize {
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
pub(super) fn strip_directives(line: &str, out: &mut String) {
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
