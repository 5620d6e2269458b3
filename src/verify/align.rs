//! Which word of a transcript is which word of the text: the subtitles place a sentence's cue
//! where the transcript's matching word is spoken.
//!
//! The alignment is a diff over the normalised tokens (`similar`'s Myers diff over slices, a
//! kept crate `insta` already brings in): tokens that the diff keeps equal are matched; the
//! rest (words the voice skipped, or the model misheard) have no match.

use similar::{Algorithm, DiffOp, capture_diff_slices};

/// For each token of `expected`, the index of the token of `heard` it matches, if any.
/// Matches are in order: a later expected token never matches an earlier heard one.
pub fn align(expected: &[String], heard: &[String]) -> Vec<Option<usize>> {
    let mut matched = vec![None; expected.len()];
    for op in capture_diff_slices(Algorithm::Myers, expected, heard) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for k in 0..len {
                if let Some(slot) = matched.get_mut(old_index + k) {
                    *slot = Some(new_index + k);
                }
            }
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::words;

    #[test]
    fn equal_words_match_and_missing_ones_do_not() {
        let text = words("The quick brown fox jumps over the lazy dog.");
        let heard = words("A quick round fox jumps over the dog");
        let m = align(&text, &heard);
        assert_eq!(m[0], None);
        assert_eq!(m[1], Some(1));
        assert_eq!(m[3], Some(3));
        assert_eq!(m[7], None, "lazy was not heard");
        assert_eq!(m[8], Some(7));
        assert_eq!(align(&text, &[]), vec![None; 9]);
    }
}
