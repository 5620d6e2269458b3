//! Compounds written joined, split or hyphenated are one word spoken: "to-day", "to day" and
//! "today"; "book shelves" and "bookshelves"; "daisy-chain" and "daisy chain". A transcription
//! model writes its own form, so the word error rate's edit distance has one more move than
//! Levenshtein's: two or three neighbouring words on one side that spell, joined, the one word
//! they are aligned with on the other side match it at no cost.
//!
//! This does not hide a dropped word: the move consumes a word on each side and every letter
//! of the joined words is compared, so a transcript that leaves out half of a compound
//! ("daisy" for "daisy chain") still scores an error. (The one exception is a text that writes
//! the same compound both ways side by side, "away, a way": a transcript with only one of them
//! can match either.) The distance is the plain dynamic programme over
//! the two token slices (pieces are at most a few hundred words), written here because
//! `strsim`'s Levenshtein has no such move.

/// The fewest substitutions, deletions and insertions that turn `want` into `got`, where
/// 2 or 3 words of one side (each `joinable`) match a word of the other that is their
/// concatenation.
pub(crate) fn distance(
    want: &[&str],
    got: &[&str],
    want_joinable: &[bool],
    got_joinable: &[bool],
) -> usize {
    let (n, m) = (want.len(), got.len());
    // d[i][j]: the distance between want[..i] and got[..j], one row per i.
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let same = usize::from(want[i - 1] != got[j - 1]);
            let mut best = (d[i - 1][j - 1] + same)
                .min(d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1);
            for parts in [2, 3] {
                // `parts` words of the text spell the transcript's one word, or the reverse.
                if i >= parts
                    && want_joinable[i - parts..i].iter().all(|j| *j)
                    && got_joinable[j - 1]
                    && spells(&want[i - parts..i], got[j - 1])
                {
                    best = best.min(d[i - parts][j - 1]);
                }
                if j >= parts
                    && got_joinable[j - parts..j].iter().all(|j| *j)
                    && want_joinable[i - 1]
                    && spells(&got[j - parts..j], want[i - 1])
                {
                    best = best.min(d[i - 1][j - parts]);
                }
            }
            d[i][j] = best;
        }
    }
    d[n][m]
}

/// Whether `parts` joined are `word`, without building the joined string.
fn spells(parts: &[&str], word: &str) -> bool {
    let mut rest = word;
    for part in parts {
        match rest.strip_prefix(part) {
            Some(r) if !part.is_empty() => rest = r,
            _ => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(want: &str, got: &str) -> usize {
        let w: Vec<&str> = want.split_whitespace().collect();
        let g: Vec<&str> = got.split_whitespace().collect();
        distance(&w, &g, &vec![true; w.len()], &vec![true; g.len()])
    }

    #[test]
    fn joined_split_and_hyphenated_compounds_are_one_word() {
        assert_eq!(d("to day", "today"), 0);
        assert_eq!(d("today", "to day"), 0);
        assert_eq!(d("the book shelves fell", "the bookshelves fell"), 0);
        assert_eq!(d("nevertheless", "never the less"), 0);
        assert_eq!(d("the cat sat", "the cat sat"), 0);
    }

    #[test]
    fn a_dropped_half_or_word_is_still_an_error() {
        assert_eq!(d("a daisy chain", "a daisy"), 1);
        assert_eq!(d("a daisy chain", "a chain"), 1);
        assert_eq!(d("in to the house", "in the house"), 1);
        assert_eq!(d("x x xx", "x x"), 1);
        assert_eq!(d("the cat sat on the mat", "the cat on the mat"), 1);
    }

    #[test]
    fn only_joinable_words_join() {
        let w = ["19", "84"];
        assert_eq!(distance(&w, &["1984"], &[false, false], &[false]), 2);
        assert!(spells(&["book", "shelves"], "bookshelves"));
        assert!(!spells(&["book", "shelf"], "bookshelves"));
        assert!(!spells(&["", "a"], "a"));
    }
}
