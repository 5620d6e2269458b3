//! Scores transcripts against their texts with the same normalisation and word error rate as
//! `--verify` (how the default `--max-wer` was measured, README "Verification").
//!
//! Reads lines `expected<TAB>transcript` on stdin; prints one line per pair, `wer errors
//! words`, then the count, mean and the share of pairs over each candidate threshold.
//!
//! ```text
//! cargo run --example wer < pairs.tsv
//! ```

use std::io::{BufRead, Write};

fn main() {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut rates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Some((expected, heard)) = line.split_once('\t') else {
            continue;
        };
        let score = tts_batch::verify::score(expected, heard);
        // A closed pipe (`| head`) ends the listing.
        if writeln!(out, "{:.4} {} {}", score.wer, score.errors, score.words).is_err() {
            return;
        }
        rates.push(score.wer);
    }
    if rates.is_empty() {
        return;
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let _ = writeln!(out, "pairs {} mean {mean:.4}", rates.len());
    for threshold in [0.10, 0.15, 0.17, 0.18, 0.20, 0.25, 0.30, 0.35, 0.40] {
        let over = rates.iter().filter(|r| **r > threshold).count();
        let _ = writeln!(out, "over {threshold:.2}: {over} of {}", rates.len());
    }
}
