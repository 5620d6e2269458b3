//! Hearing pieces back (SPEC §11): the normalisation a text and its transcript share, and the
//! word error rate between them, which the realtime provider's verbatim check uses too.
//!
//! The API is [`score`]: `score(expected_text, transcript)` gives a [`Score`] with the rate
//! (`wer`, a character error rate where the text is mostly CJK or another unspaced script),
//! the errors and the expected words, so scores of several pieces add up word-weighted
//! ([`Score::sum`]). [`align`] matches a transcript's words to the text's, for subtitles.

mod align;
mod compounds;
mod normalise;
mod numbers;
mod rate;
mod spelling;

pub use align::align;
pub use normalise::{Token, tokens, words};
pub use rate::{Score, Unit, score, score_tokens};
