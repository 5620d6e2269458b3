//! The one normalisation a text and its transcript both go through before they are compared:
//! case, punctuation, typographic quotes and dashes, numbers as digits or words, and CJK (and
//! other unspaced scripts) by characters. Pure functions over text.
//!
//! A transcript is not a copy of the text it was heard from: a speech-to-text model writes
//! "42" where the book says "forty-two", "don't" with a straight quote where the book has a
//! curly one, and no em dash at all. Everything here erases a difference that is spelling, not
//! speech, and keeps every difference a listener would hear.

use unicode_segmentation::UnicodeSegmentation;

use super::{numbers, spelling};

/// One unit of comparison: a word, a number (as digits), or one character of a script written
/// without spaces between words.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    pub text: String,
    /// A character of Chinese, Japanese, Korean, Thai, ... (scored as a character error rate).
    pub character: bool,
    /// Where the token's source starts in the text given to [`tokens`], in bytes (a number
    /// read from several words starts at its first word). Subtitles use it to find a sentence
    /// end's token.
    pub start: usize,
}

/// The text as tokens, after the normalisation: British spellings of the words
/// `spelling.rs` lists are written the American way.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut tokens = numbers::read_numbers(split_words(text));
    for token in &mut tokens {
        if let Some(american) = spelling::american(&token.text) {
            token.text = american.to_owned();
        }
    }
    tokens
}

/// The text's words as normalised strings: what [`tokens`] gives, without positions.
pub fn words(text: &str) -> Vec<String> {
    tokens(text).into_iter().map(|t| t.text).collect()
}

/// A word before numbers are read: lowercased, with its start and whether only spaces or
/// hyphens separate it from the word before ("forty-two" is one number, "forty. Two" is two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawWord {
    pub(crate) token: Token,
    pub(crate) joined: bool,
}

/// Words (lowercased, with the characters that may sit inside a word), each with the byte
/// offset where it starts. Separators are dropped; `%`, `&` and currency signs become words.
fn split_words(text: &str) -> Vec<RawWord> {
    let mut words = Words::default();
    for (index, grapheme) in text.grapheme_indices(true) {
        let c = fold_width(grapheme.chars().next().unwrap_or(' '));
        if is_unspaced_script(c) {
            words.flush();
            words.hard_break = true;
            words.push(index, grapheme.to_lowercase(), true);
            words.hard_break = true;
            continue;
        }
        if c.is_alphanumeric() || is_inner(c) {
            if words.current.is_empty() {
                words.current_start = index;
            }
            for ch in grapheme.chars().map(fold_width) {
                if is_apostrophe(ch) {
                    words.current.push('\'');
                } else {
                    words.current.extend(ch.to_lowercase());
                }
            }
            continue;
        }
        words.flush();
        match c {
            '%' => words.push(index, "percent".to_owned(), false),
            '&' => words.push(index, "and".to_owned(), false),
            '$' => words.currency = Some("dollars"),
            '£' => words.currency = Some("pounds"),
            '€' => words.currency = Some("euros"),
            // A hyphen joins ("forty-two", "well-known"); a space neither joins nor breaks.
            '-' | '\u{2010}' | '\u{2011}' => {}
            c if c.is_whitespace() => {}
            _ => words.hard_break = true,
        }
    }
    words.flush();
    words.out
}

/// The state of [`split_words`]: the word being read and what came before it.
#[derive(Default)]
struct Words {
    out: Vec<RawWord>,
    current: String,
    current_start: usize,
    /// A separator other than a space or hyphen since the last word.
    hard_break: bool,
    /// A currency sign just before the word being read: "$5" is read "five dollars".
    currency: Option<&'static str>,
}

impl Words {
    fn push(&mut self, start: usize, text: String, character: bool) {
        let joined = !self.hard_break && !self.out.is_empty();
        self.out.push(RawWord {
            token: Token {
                text,
                character,
                start,
            },
            joined,
        });
        self.hard_break = false;
    }

    fn flush(&mut self) {
        let word = trim_word(&self.current);
        // A `.` or `,` at a word's edge is punctuation: "twenty. One" is two numbers.
        if self.current.starts_with(['.', ',']) {
            self.hard_break = true;
        }
        let ends_clause = self.current.ends_with(['.', ',']);
        self.current.clear();
        let currency = self.currency.take();
        let mut first = true;
        for part in word.split(' ').filter(|p| !p.is_empty()) {
            if !first {
                self.hard_break = true;
            }
            first = false;
            self.push(self.current_start, part.to_owned(), false);
        }
        if let Some(name) = currency
            && word.starts_with(|c: char| c.is_ascii_digit())
        {
            self.push(self.current_start, name.to_owned(), false);
        }
        if ends_clause {
            self.hard_break = true;
        }
    }
}

/// Characters kept inside a word: apostrophes (straight or curly) and the `,` `.` between
/// digits ("1,000", "3.5"); trimmed from a word's ends by [`trim_word`].
fn is_inner(c: char) -> bool {
    is_apostrophe(c) || c == ',' || c == '.'
}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' | '\u{2032}'
    )
}

/// A word's inner punctuation settled: apostrophes dropped ("don't" and "dont" are one word,
/// as are "dogs'" and "dogs"), `,` and `.` kept only between digits ("1,000" is "1000",
/// "3.5" stays), anywhere else they end the word, so "end.Next" is two words.
fn trim_word(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\'' => {}
            ',' | '.' => {
                let before = i > 0 && chars[i - 1].is_ascii_digit();
                let after = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
                if before && after {
                    if c == '.' {
                        out.push('.');
                    }
                } else if chars.get(i + 1).is_some_and(|c| c.is_alphanumeric()) {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Full-width ASCII (０-９, Ａ-Ｚ, ...) as ASCII: CJK text writes numbers either way.
fn fold_width(c: char) -> char {
    let code = u32::from(c);
    if (0xFF01..=0xFF5E).contains(&code) {
        char::from_u32(code - 0xFEE0).unwrap_or(c)
    } else {
        c
    }
}

/// Scripts written without spaces between words (or, for Korean, where a character error rate
/// is the usual measure): each character is a token.
pub(crate) fn is_unspaced_script(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF        // Hangul Jamo
        | 0x2E80..=0x2FDF      // CJK radicals, Kangxi
        | 0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3100..=0x312F      // Bopomofo
        | 0x3130..=0x318F      // Hangul compatibility Jamo
        | 0x31F0..=0x31FF      // Katakana phonetic extensions
        | 0x3400..=0x4DBF      // CJK extension A
        | 0x4E00..=0x9FFF      // CJK unified ideographs
        | 0xAC00..=0xD7AF      // Hangul syllables
        | 0xF900..=0xFAFF      // CJK compatibility ideographs
        | 0xFF66..=0xFF9F      // half-width Katakana
        | 0x20000..=0x3134F    // CJK extensions B to G
        | 0x0E00..=0x0EFF      // Thai, Lao
        | 0x1000..=0x109F      // Myanmar
        | 0x1780..=0x17FF // Khmer
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<String> {
        words(text)
    }

    #[test]
    fn case_and_punctuation_are_not_speech() {
        assert_eq!(w("Hello, World!"), w("hello world"));
        assert_eq!(
            w("“Quoted,” she said—twice."),
            w("\"quoted\" she said twice")
        );
        assert_eq!(w("well-known"), w("well known"));
        assert_eq!(w("A -- B – C — D"), w("a b c d"));
        assert_eq!(w("don’t"), w("don't"));
        assert_eq!(w("don't"), vec!["dont"]);
        assert_eq!(w("the dogs' bowls"), w("the dogs bowls"));
        assert_eq!(w("end.Next"), vec!["end", "next"]);
        assert_eq!(w("...and so...on"), vec!["and", "so", "on"]);
        assert_eq!(w("''"), Vec::<String>::new());
    }

    #[test]
    fn digits_keep_their_inner_marks() {
        assert_eq!(w("1,000 people"), vec!["1000", "people"]);
        assert_eq!(w("3.5 kg."), vec!["3.5", "kg"]);
        assert_eq!(w("50%"), vec!["50", "percent"]);
        assert_eq!(w("$5"), vec!["5", "dollars"]);
        assert_eq!(w("AT&T"), vec!["at", "and", "t"]);
    }

    #[test]
    fn unspaced_scripts_go_by_character() {
        assert_eq!(w("你好，世界。"), vec!["你", "好", "世", "界"]);
        assert_eq!(
            w("日本語のテキスト"),
            vec!["日", "本", "語", "の", "テ", "キ", "ス", "ト"]
        );
        let tokens = tokens("用 GPT 读");
        assert_eq!(
            tokens.iter().map(|t| t.character).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert_eq!(w("２０２４年"), vec!["2024", "年"]);
    }

    #[test]
    fn tokens_know_where_they_start() {
        let text = "One. Two, three";
        let starts: Vec<usize> = tokens(text).iter().map(|t| t.start).collect();
        assert_eq!(starts, vec![0, 5, 10]);
    }
}
