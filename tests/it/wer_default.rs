//! The default `--max-wer` against real Whisper transcripts (SPEC §11, README "Verification"):
//! the first chapter of *Alice*, 24 paragraphs, spoken by espeak-ng and by Piper, honestly and
//! with every fifth word left out of the audio, transcribed by the Whisper base model
//! (`tests/corpus/whisper-base/`, `text<TAB>transcript` per line). Scored offline with the
//! run's own normalisation and rate: a piece missing about a fifth of its words is always
//! over the default, an honest one rarely.

use tts_batch::settings::DEFAULT_MAX_WER;
use tts_batch::verify::score;

use crate::support::corpus_path;

/// Each pair's text, its rate and its whitespace word count.
fn scored(name: &str) -> Vec<(String, f64, usize)> {
    let path = corpus_path(&format!("whisper-base/{name}.tsv"));
    let text = std::fs::read_to_string(&path).unwrap();
    let pairs: Vec<_> = text
        .lines()
        .map(|line| {
            let (expected, heard) = line.split_once('\t').unwrap();
            (
                expected.to_string(),
                score(expected, heard).wer,
                expected.split_whitespace().count(),
            )
        })
        .collect();
    assert_eq!(pairs.len(), 24, "{name}");
    pairs
}

fn flagged(pairs: &[(String, f64, usize)]) -> usize {
    pairs
        .iter()
        .filter(|(_, wer, _)| *wer > DEFAULT_MAX_WER)
        .count()
}

#[test]
fn honest_speech_is_flagged_rarely() {
    // The least natural voice heard by the weakest model: 3 pieces of 24, the dialogue-heavy
    // ones ("Dinah'll" heard as "I know", "bats" as "mats").
    assert!(flagged(&scored("espeak-honest")) <= 3);
    // A neural voice: never.
    assert_eq!(flagged(&scored("piper-honest")), 0);
}

#[test]
fn a_piece_missing_a_fifth_of_its_words_is_always_flagged() {
    for name in ["espeak-broken", "piper-broken"] {
        for (text, wer, words) in scored(name) {
            // Every fifth word was left out: n / 5 of n, rounded down.
            let missing = (words / 5) as f64 / words as f64;
            if missing >= 0.18 {
                assert!(
                    wer > DEFAULT_MAX_WER,
                    "{name}: {wer:.3} with {missing:.2} of the words missing: {text}"
                );
            }
        }
    }
    // Every espeak piece, the short ones too (their misheard words add to the missing ones).
    assert_eq!(flagged(&scored("espeak-broken")), 24);
}
