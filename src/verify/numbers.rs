//! Numbers read the same whether written in digits or in English words: "forty-two",
//! "42"; "nineteen eighty-four", "1984"; "one hundred and five", "105"; "twenty-first",
//! "21st"; "three point one four", "3.14"; "a thousand", "1000"; "2 million", "2000000".
//!
//! Speech-to-text models write most numbers as digits, books spell most of them out: both sides
//! become digits here (as Whisper's own English normaliser does). Only words joined by spaces or
//! hyphens make one number: "twenty. One" stays two. Arithmetic is checked: a number too large
//! for 64 bits stops where it overflows and the rest is read as a new number.

use super::normalise::{RawWord, Token};

/// The words with each run of number words (or digits followed by a scale word) made one
/// token of digits.
pub(crate) fn read_numbers(raw: Vec<RawWord>) -> Vec<Token> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match read_number(&raw, i) {
            Some((token, next)) if next > i => {
                out.push(token);
                i = next;
            }
            _ => {
                out.push(raw[i].token.clone());
                i += 1;
            }
        }
    }
    out
}

/// What a word is to a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    /// 0 to 99 (units, teens, tens).
    Small(u64),
    Hundred,
    /// thousand, million, billion, trillion.
    Scale(u64),
    /// A run of ASCII digits.
    Digits(u64),
}

/// The class of the last word read, which decides what may follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Nothing,
    Unit,
    Teen,
    Tens,
    Hundred,
    Scale,
    Digits,
}

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const UNIT_ORDINALS: [&str; 20] = [
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const TENS_ORDINALS: [&str; 8] = [
    "twentieth",
    "thirtieth",
    "fortieth",
    "fiftieth",
    "sixtieth",
    "seventieth",
    "eightieth",
    "ninetieth",
];
const SCALES: [(&str, &str, u64); 4] = [
    ("thousand", "thousandth", 1_000),
    ("million", "millionth", 1_000_000),
    ("billion", "billionth", 1_000_000_000),
    ("trillion", "trillionth", 1_000_000_000_000),
];

/// A word as part of a number, and whether it is an ordinal ("fifth").
fn classify(word: &str) -> Option<(Word, bool)> {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok().map(|v| (Word::Digits(v), false));
    }
    let small = |list: &[&str], base: u64, step: u64| {
        list.iter()
            .position(|w| *w == word)
            .map(|i| base + step * i as u64)
    };
    if let Some(v) = small(&UNITS, 0, 1).or_else(|| small(&TENS, 20, 10)) {
        return Some((Word::Small(v), false));
    }
    if let Some(v) = small(&UNIT_ORDINALS, 0, 1).or_else(|| small(&TENS_ORDINALS, 20, 10)) {
        return Some((Word::Small(v), true));
    }
    match word {
        "hundred" => return Some((Word::Hundred, false)),
        "hundredth" => return Some((Word::Hundred, true)),
        _ => {}
    }
    SCALES.iter().find_map(|&(cardinal, ordinal, value)| {
        (word == cardinal)
            .then_some((Word::Scale(value), false))
            .or((word == ordinal).then_some((Word::Scale(value), true)))
    })
}

/// A number being read.
struct Reading {
    total: u64,
    group: u64,
    last: Last,
    /// Scale words must fall: "two million three thousand".
    smallest_scale: u64,
}

impl Reading {
    fn new() -> Self {
        Reading {
            total: 0,
            group: 0,
            last: Last::Nothing,
            smallest_scale: u64::MAX,
        }
    }

    /// Takes the word into the number; false when it cannot continue it.
    fn accept(&mut self, word: Word) -> bool {
        match word {
            Word::Small(v) => {
                let class = match v {
                    0..=9 => Last::Unit,
                    10..=19 => Last::Teen,
                    _ => Last::Tens,
                };
                let group = match self.last {
                    Last::Nothing => Some(v),
                    Last::Tens if class == Last::Unit && v > 0 && self.group.is_multiple_of(10) => {
                        self.group.checked_add(v)
                    }
                    Last::Hundred | Last::Scale => self.group.checked_add(v),
                    // "nineteen eighty", "twenty twenty", "twenty eleven": a year.
                    Last::Teen | Last::Tens
                        if self.total == 0
                            && self.group < 100
                            && matches!(class, Last::Teen | Last::Tens) =>
                    {
                        self.group.checked_mul(100).and_then(|g| g.checked_add(v))
                    }
                    _ => None,
                };
                let Some(group) = group else { return false };
                self.group = group;
                self.last = class;
            }
            Word::Hundred => {
                let group = match self.last {
                    Last::Nothing => 100,
                    Last::Unit | Last::Teen | Last::Tens | Last::Digits
                        if (1..100).contains(&self.group) =>
                    {
                        self.group * 100
                    }
                    _ => return false,
                };
                self.group = group;
                self.last = Last::Hundred;
            }
            Word::Scale(scale) => {
                if scale >= self.smallest_scale || self.last == Last::Scale {
                    return false;
                }
                let group = if self.last == Last::Nothing {
                    1
                } else {
                    self.group
                };
                let Some(total) = group
                    .checked_mul(scale)
                    .and_then(|g| self.total.checked_add(g))
                else {
                    return false;
                };
                self.total = total;
                self.group = 0;
                self.smallest_scale = scale;
                self.last = Last::Scale;
            }
            Word::Digits(v) => {
                if self.last != Last::Nothing {
                    return false;
                }
                self.group = v;
                self.last = Last::Digits;
            }
        }
        true
    }

    fn value(&self) -> Option<u64> {
        self.total.checked_add(self.group)
    }

    /// After "hundred" or a scale, "and" leads to the rest: "one hundred and five".
    fn takes_and(&self) -> bool {
        matches!(self.last, Last::Hundred | Last::Scale)
    }
}

/// Reads a number starting at `raw[start]`: its token and the index after its last word, or
/// `None` when no number starts there.
fn read_number(raw: &[RawWord], start: usize) -> Option<(Token, usize)> {
    let mut reading = Reading::new();
    let mut i = start;
    let mut ordinal = false;
    // "a hundred", "a thousand".
    if raw[i].token.text == "a"
        && let Some(next) = raw.get(i + 1)
        && next.joined
        && matches!(
            classify(&next.token.text),
            Some((Word::Hundred | Word::Scale(_), _))
        )
    {
        reading.accept(Word::Small(1));
        i += 1;
    }
    while let Some(word) = raw.get(i) {
        if i > start && !word.joined {
            break;
        }
        if word.token.text == "and" && reading.takes_and() {
            match raw.get(i + 1) {
                Some(next)
                    if next.joined
                        && matches!(classify(&next.token.text), Some((Word::Small(_), _))) =>
                {
                    i += 1;
                    continue;
                }
                _ => break,
            }
        }
        let Some((class, is_ordinal)) = classify(&word.token.text) else {
            break;
        };
        if !reading.accept(class) {
            break;
        }
        i += 1;
        if is_ordinal {
            ordinal = true;
            break;
        }
    }
    if reading.last == Last::Nothing || i == start {
        return None;
    }
    let value = reading.value()?;
    let mut text = value.to_string();
    if ordinal {
        text.push_str(ordinal_suffix(value));
    } else if let Some((digits, next)) = decimals(raw, i) {
        text.push('.');
        text.push_str(&digits);
        i = next;
    }
    Some((
        Token {
            text,
            character: false,
            start: raw[start].token.start,
        },
        i,
    ))
}

/// "point one four" after a number: the digits and the index after them.
fn decimals(raw: &[RawWord], at: usize) -> Option<(String, usize)> {
    let point = raw.get(at)?;
    if point.token.text != "point" || !point.joined {
        return None;
    }
    let mut digits = String::new();
    let mut i = at + 1;
    while let Some(word) = raw.get(i) {
        match classify(&word.token.text) {
            Some((Word::Small(v @ 0..=9), false)) if word.joined => digits.push_str(&v.to_string()),
            _ => break,
        }
        i += 1;
    }
    (!digits.is_empty()).then_some((digits, i))
}

/// English ordinal suffix for a value: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, ...
fn ordinal_suffix(value: u64) -> &'static str {
    match (value % 10, value % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

#[cfg(test)]
mod tests {
    use crate::verify::normalise::words;

    fn same(a: &str, b: &str) {
        assert_eq!(words(a), words(b), "{a:?} vs {b:?}");
    }

    #[test]
    fn spelled_numbers_are_digits() {
        same("forty-two", "42");
        same("forty two", "42");
        same("one hundred and five", "105");
        same("a hundred", "100");
        same("a thousand and one nights", "1001 nights");
        same("two thousand five hundred", "2500");
        same("two million three thousand and twelve", "2003012");
        same("2 million", "2000000");
        same("nineteen eighty-four", "1984");
        same("twenty twenty", "2020");
        same("nineteen hundred", "1900");
        same("three point one four", "3.14");
        same("twenty-first", "21st");
        same("the second time", "the 2nd time");
        same("eleventh", "11th");
        same("one hundredth", "100th");
        assert_eq!(words("zero"), vec!["0"]);
    }

    #[test]
    fn numbers_stop_at_punctuation_and_plain_words() {
        assert_eq!(words("twenty. One"), vec!["20", "1"]);
        assert_eq!(words("one two three"), vec!["1", "2", "3"]);
        assert_eq!(words("one and two"), vec!["1", "and", "2"]);
        assert_eq!(
            words("a hundred and a thousand"),
            vec!["100", "and", "1000"]
        );
        assert_eq!(words("a dog"), vec!["a", "dog"]);
        assert_eq!(words("hundred and"), vec!["100", "and"]);
        assert_eq!(words("the point is"), vec!["the", "point", "is"]);
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        let text = "99999999999999999999 trillion trillion ninety nine trillion trillion";
        assert!(!words(text).is_empty());
        assert!(!words("eighteen446744073709551615 hundred thousand").is_empty());
        let many = "nine hundred ninety nine trillion ".repeat(10);
        assert!(!words(&many).is_empty());
    }
}
