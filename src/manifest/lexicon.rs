//! The pronunciation lexicon (`--lexicon FILE`, SPEC §3): a TOML file whose `[replace]` table
//! maps a word or phrase, matched as whole words exactly as written, to what to say instead,
//! and whose `[replace_any_case]` table does the same ignoring case. It is applied to every
//! item's spoken text before the text is cut into pieces, so fingerprints follow it: an entry
//! costs only the pieces whose text it changes.
//!
//! Matching is one left-to-right pass: at each place a word may start, the longest entry that
//! matches there wins (an exact entry before an any-case one of the same length), and the text
//! it puts in is not matched again, so entries never apply to each other's output.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

/// A loaded, checked lexicon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lexicon {
    /// Entries by their first character (lowercased for any-case entries), longest first.
    by_first: HashMap<char, Vec<Entry>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    from: Vec<char>,
    to: String,
    any_case: bool,
}

/// The file's shape; any other table or key is an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    replace: BTreeMap<String, toml::Spanned<String>>,
    #[serde(default)]
    replace_any_case: BTreeMap<String, toml::Spanned<String>>,
}

/// Whether `c` is part of a word: a whole-word match may not have one right before or after it.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Why a lexicon cannot be used: one line naming the file and, for a malformed entry, its line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("lexicon {path}: {reason}", path = .path.display())]
pub struct LexiconError {
    pub path: std::path::PathBuf,
    /// "no such file", or "line N: what is wrong".
    pub reason: String,
}

/// A malformed entry: its line and what is wrong there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(String);

impl Lexicon {
    /// Reads and checks the lexicon at `path`.
    pub fn load(path: &Path) -> Result<Lexicon, LexiconError> {
        let error = |reason| LexiconError {
            path: path.to_path_buf(),
            reason,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| error(crate::domain::io_reason(&e)))?;
        Lexicon::parse(&text).map_err(|Malformed(reason)| error(reason))
    }

    /// Parses a lexicon's text (see [`Lexicon::load`]); the error is its line and what is
    /// wrong there, which `load` puts after the file's name.
    fn parse(text: &str) -> Result<Lexicon, Malformed> {
        let line_of = |byte: usize| text[..byte.min(text.len())].matches('\n').count() + 1;
        let file: File = toml::from_str(text).map_err(|e| {
            let reason = e.message().trim().to_owned();
            Malformed(match e.span() {
                Some(span) => format!("line {}: {reason}", line_of(span.start)),
                None => reason,
            })
        })?;
        let mut lexicon = Lexicon::default();
        for (table, any_case) in [(file.replace, false), (file.replace_any_case, true)] {
            for (from, to) in table {
                let line = line_of(to.span().start);
                let from = from.trim();
                if from.is_empty() {
                    return Err(Malformed(format!(
                        "line {line}: an entry replaces nothing (empty key)"
                    )));
                }
                if from.contains(['\n', '\r']) || to.get_ref().contains(['\n', '\r']) {
                    return Err(Malformed(format!(
                        "line {line}: `{from}`: a replacement is one line of text"
                    )));
                }
                let mut chars: Vec<char> = from.chars().collect();
                if any_case {
                    chars = chars.iter().flat_map(|c| c.to_lowercase()).collect();
                }
                let Some(&first) = chars.first() else {
                    continue;
                };
                lexicon.by_first.entry(first).or_default().push(Entry {
                    from: chars,
                    to: to.into_inner().trim().to_owned(),
                    any_case,
                });
            }
        }
        for entries in lexicon.by_first.values_mut() {
            entries.sort_by_key(|e| (std::cmp::Reverse(e.from.len()), e.any_case));
        }
        Ok(lexicon)
    }

    /// Whether the lexicon has no entries.
    pub fn is_empty(&self) -> bool {
        self.by_first.is_empty()
    }

    /// `text` with every entry replaced, and how many replacements were made.
    pub fn apply(&self, text: &str) -> (String, usize) {
        if self.is_empty() {
            return (text.to_owned(), 0);
        }
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut out = String::with_capacity(text.len());
        let mut count = 0;
        let mut i = 0;
        let mut copied = 0; // bytes of `text` already in `out`
        while i < chars.len() {
            let (byte, c) = chars[i];
            let after_word = i > 0 && is_word(chars[i - 1].1);
            let found = self.matching(&chars, i, c, after_word);
            match found {
                Some((entry, end)) => {
                    out.push_str(&text[copied..byte]);
                    out.push_str(&entry.to);
                    copied = chars.get(end).map_or(text.len(), |&(b, _)| b);
                    count += 1;
                    i = end;
                }
                None => i += 1,
            }
        }
        out.push_str(&text[copied..]);
        (out, count)
    }

    /// The longest entry matching at char `i` as whole words, and the char index after it.
    fn matching(
        &self,
        chars: &[(usize, char)],
        i: usize,
        c: char,
        after_word: bool,
    ) -> Option<(&Entry, usize)> {
        let lower = c.to_lowercase().next().unwrap_or(c);
        let exact = self.by_first.get(&c).into_iter().flatten();
        let any = (lower != c)
            .then(|| self.by_first.get(&lower))
            .flatten()
            .into_iter()
            .flatten();
        let mut best: Option<(&Entry, usize)> = None;
        for entry in exact.chain(any) {
            if best.is_some_and(|(b, _)| b.from.len() > entry.from.len()) {
                continue;
            }
            if after_word && entry.from.first().copied().is_some_and(is_word) {
                continue;
            }
            let Some(end) = matches_at(chars, i, entry) else {
                continue;
            };
            let before_word = chars.get(end).is_some_and(|&(_, c)| is_word(c));
            if before_word && entry.from.last().copied().is_some_and(is_word) {
                continue;
            }
            let better = match best {
                None => true,
                Some((b, _)) => entry.from.len() > b.from.len() || (b.any_case && !entry.any_case),
            };
            if better {
                best = Some((entry, end));
            }
        }
        best
    }
}

/// Where `entry` ends if it matches the text's chars from `i` (an any-case entry compares
/// lowercased chars; a char whose lowercase is several chars must match all of them).
fn matches_at(chars: &[(usize, char)], i: usize, entry: &Entry) -> Option<usize> {
    if !entry.any_case {
        let end = i + entry.from.len();
        let slice = chars.get(i..end)?;
        return slice
            .iter()
            .map(|&(_, c)| c)
            .eq(entry.from.iter().copied())
            .then_some(end);
    }
    let mut want = entry.from.iter();
    let mut j = i;
    loop {
        if want.as_slice().is_empty() {
            return Some(j);
        }
        let &(_, c) = chars.get(j)?;
        for l in c.to_lowercase() {
            if want.next() != Some(&l) {
                return None;
            }
        }
        j += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon(toml: &str) -> Lexicon {
        Lexicon::parse(toml).unwrap()
    }

    #[test]
    fn replaces_whole_words_as_written() {
        let l = lexicon("[replace]\nDinah = \"Dyna\"\n\"Mr.\" = \"Mister\"\n");
        let (text, n) = l.apply("Dinah and Mr. Dinahs met Dinah. dinah stayed; Mr.X left.");
        assert_eq!(
            text,
            "Dyna and Mister Dinahs met Dyna. dinah stayed; MisterX left."
        );
        assert_eq!(n, 4);
        // Not inside a word; a possessive is still the word.
        assert_eq!(
            l.apply("Dinah's cat, ODinah, Dinah_2").0,
            "Dyna's cat, ODinah, Dinah_2"
        );
    }

    #[test]
    fn any_case_entries_ignore_case_and_longest_wins() {
        let l = lexicon(
            "[replace_any_case]\n\"dinah\" = \"Dyna\"\n\"Dinah Lee\" = \"Dyna Lee\"\n[replace]\nDINAH = \"Shout\"\n",
        );
        let (text, n) = l.apply("DINAH, Dinah, dInAh and dinah lee.");
        assert_eq!(text, "Shout, Dyna, Dyna and Dyna Lee.");
        assert_eq!(n, 4);
        // Output is not matched again.
        let l = lexicon("[replace]\na = \"a a\"\n");
        assert_eq!(l.apply("a b a").0, "a a b a a");
        // Non-ASCII words.
        let l = lexicon("[replace_any_case]\n\"Ärger\" = \"Erger\"\n");
        assert_eq!(l.apply("ärger, ÄRGER.").0, "Erger, Erger.");
    }

    #[test]
    fn malformed_lexicons_name_the_line() {
        for (toml, line) in [
            ("[replace]\nok = \"fine\"\nbad = 3\n", "line 3"),
            ("[replace]\nok = \"fine\"\n\n[colours]\nx = \"y\"\n", "line"),
            ("[replace]\nok = \"fine\"\n\"  \" = \"y\"\n", "line 3"),
            ("[replace]\nunclosed = \"x\n", "line 2"),
        ] {
            let e = Lexicon::parse(toml).unwrap_err();
            assert!(e.0.starts_with(line), "{toml:?}: {e}");
        }
        assert!(Lexicon::parse("").unwrap().is_empty());
    }
}
