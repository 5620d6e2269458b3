//! The word error rate of a transcript against the text it was heard from (the character error
//! rate where the text is mostly in a script written without spaces).
//!
//! The rate is the standard one: the fewest word substitutions, deletions and insertions that
//! turn the text into the transcript (Levenshtein distance over token slices, with one more
//! move: a compound written joined on one side and split on the other matches,
//! `compounds.rs`), divided by the text's token count. It can pass 1 when the transcript adds
//! many words.

use super::compounds;
use super::normalise::{Token, tokens};

/// How a text and its transcript compare.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Errors per expected word (or character): `errors / words`, 0 when both are empty.
    pub wer: f64,
    /// Substitutions, deletions and insertions.
    pub errors: usize,
    /// Tokens in the expected text: the weight of this score in a sum.
    pub words: usize,
    /// Whether `words` counts words or characters.
    pub unit: Unit,
}

/// What a score counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Words,
    /// Most of the expected tokens are characters of an unspaced script (CJK, Thai, ...).
    Characters,
}

impl Score {
    /// A score from counts: the rate is `errors / words`; an empty text with an empty
    /// transcript scores 0, an empty text with words heard scores 1 (every word is wrong).
    pub fn from_counts(errors: usize, words: usize, unit: Unit) -> Self {
        let wer = match (errors, words) {
            (0, _) => 0.0,
            (_, 0) => 1.0,
            (e, w) => e as f64 / w as f64,
        };
        Score {
            wer,
            errors,
            words,
            unit,
        }
    }

    /// Whether the transcript is close enough: the rate is at most `max_wer`.
    pub fn passes(&self, max_wer: f64) -> bool {
        self.wer <= max_wer
    }

    /// Several scores as one, weighted by their words (a chapter from its pieces).
    pub fn sum<'a>(scores: impl IntoIterator<Item = &'a Score>) -> Option<Score> {
        let mut errors = 0usize;
        let mut words = 0usize;
        let mut characters = 0usize;
        let mut any = false;
        for s in scores {
            any = true;
            errors = errors.saturating_add(s.errors);
            words = words.saturating_add(s.words);
            if s.unit == Unit::Characters {
                characters = characters.saturating_add(s.words);
            }
        }
        let unit = if characters * 2 > words {
            Unit::Characters
        } else {
            Unit::Words
        };
        any.then(|| Score::from_counts(errors, words, unit))
    }
}

/// Scores a transcript against the text it should say.
pub fn score(expected: &str, transcript: &str) -> Score {
    score_tokens(&tokens(expected), &tokens(transcript))
}

/// [`score`] over tokens already normalised. A compound written joined on one side and split
/// or hyphenated on the other is one word spoken (`compounds.rs`).
pub fn score_tokens(expected: &[Token], heard: &[Token]) -> Score {
    let want: Vec<&str> = expected.iter().map(|t| t.text.as_str()).collect();
    let got: Vec<&str> = heard.iter().map(|t| t.text.as_str()).collect();
    let errors = compounds::distance(&want, &got, &joinable(expected), &joinable(heard));
    let characters = expected.iter().filter(|t| t.character).count();
    let unit = if characters * 2 > expected.len() {
        Unit::Characters
    } else {
        Unit::Words
    };
    Score::from_counts(errors, expected.len(), unit)
}

/// Which tokens may be part of a compound: words of letters (numbers are read by
/// `numbers.rs`; characters of unspaced scripts go one by one).
fn joinable(tokens: &[Token]) -> Vec<bool> {
    tokens
        .iter()
        .map(|t| !t.character && t.text.chars().all(char::is_alphabetic))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equal_texts_score_zero() {
        let s = score(
            "Forty-two “apples”—and 3 pears.",
            "42 apples, and three pears",
        );
        assert_eq!(s.wer, 0.0);
        assert_eq!(s.words, 5);
        assert_eq!(s.unit, Unit::Words);
    }

    #[test]
    fn compounds_and_spellings_are_one_word_and_a_dropped_word_still_counts() {
        let s = score(
            "To-day the colour of the book shelves was labelled grey.",
            "Today the color of the bookshelves was labeled gray.",
        );
        assert_eq!(s.errors, 0, "{s:?}");
        let s = score(
            "a daisy-chain by the pine apple",
            "a daisy chain by the pineapple",
        );
        assert_eq!(s.errors, 0, "{s:?}");
        // The half of a compound left out, and a word left out, are errors as before.
        let s = score(
            "a daisy-chain by the pine apple",
            "a daisy by the pineapple",
        );
        assert_eq!(s.errors, 1, "{s:?}");
        let s = score("the colour of the sea", "the color the sea");
        assert_eq!(s.errors, 1, "{s:?}");
        // "four" is not "for", "your" not "yor": no suffix rule.
        let s = score("four of your friends", "for of yor friends");
        assert_eq!(s.errors, 2, "{s:?}");
    }

    #[test]
    fn errors_are_substitutions_deletions_insertions() {
        let s = score("the cat sat on the mat", "the cat sat on a mat");
        assert_eq!((s.errors, s.words), (1, 6));
        let s = score("the cat sat on the mat", "the cat on the mat");
        assert_eq!(s.errors, 1);
        let s = score("the cat sat on the mat", "the cat sat on the mat today");
        assert_eq!(s.errors, 1);
        let s = score("one two three four five", "");
        assert_eq!(s.wer, 1.0);
        let s = score("a b", "c d e f");
        assert_eq!(s.errors, 4);
        assert_eq!(s.wer, 2.0);
    }

    #[test]
    fn cjk_is_scored_by_character() {
        let s = score("今天天气很好。", "今天天气很好");
        assert_eq!((s.errors, s.words, s.unit), (0, 6, Unit::Characters));
        let s = score("今天天气很好。", "今天天汽很好");
        assert_eq!(s.errors, 1);
        assert!((s.wer - 1.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn empty_texts() {
        assert_eq!(score("", "").wer, 0.0);
        assert_eq!(score("...", "").wer, 0.0);
        assert_eq!(score("", "thank you").wer, 1.0);
    }

    #[test]
    fn sums_are_word_weighted() {
        let a = Score::from_counts(1, 10, Unit::Words);
        let b = Score::from_counts(3, 30, Unit::Words);
        let c = Score::from_counts(0, 60, Unit::Words);
        let total = Score::sum([&a, &b, &c]).expect("three scores");
        assert_eq!((total.errors, total.words), (4, 100));
        assert!((total.wer - 0.04).abs() < 1e-12);
        assert_eq!(Score::sum([]), None);
    }

    fn sentence() -> impl Strategy<Value = Vec<String>> {
        // "x…" is never a number word, so no two words merge into one number; words of one
        // length are never two of them joined, so no compound forms where a word was dropped
        // (`compounds.rs`: "xx x x" without its "x x" would match "xx" as "x x").
        prop::collection::vec("x[a-z]{3}", 1..60)
    }

    proptest! {
        #[test]
        fn a_text_matches_itself_however_it_is_dressed(words in sentence(), caps in any::<bool>()) {
            let plain = words.join(" ");
            let dressed = if caps { plain.to_uppercase() } else { format!("“{}.”", words.join(", ")) };
            prop_assert_eq!(score(&plain, &dressed).wer, 0.0);
        }

        #[test]
        fn dropping_k_words_of_n_scores_k_over_n(words in sentence(), seed in any::<u64>()) {
            let n = words.len();
            let k = (seed as usize) % (n + 1);
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut kept = words.clone();
            for _ in 0..k {
                let at = rng.usize(..kept.len());
                kept.remove(at);
            }
            let s = score(&words.join(" "), &kept.join(" "));
            prop_assert_eq!(s.errors, k);
            prop_assert_eq!(s.words, n);
        }

        #[test]
        fn the_rate_is_never_negative_and_is_symmetric_in_errors(
            a in sentence(), b in sentence()
        ) {
            let x = score(&a.join(" "), &b.join(" "));
            let y = score(&b.join(" "), &a.join(" "));
            prop_assert!(x.wer >= 0.0);
            prop_assert_eq!(x.errors, y.errors);
            prop_assert_eq!(x.errors == 0, a == b);
        }

        #[test]
        fn nothing_panics(expected in any::<String>(), heard in any::<String>()) {
            let s = score(&expected, &heard);
            prop_assert!(s.wer >= 0.0 && s.wer.is_finite());
        }
    }
}
