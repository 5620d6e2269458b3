//! How full pieces are and how many pieces an edit changes, measured on the corpus books: the
//! test (`tests/it/packing.rs`) asserts the figures, the benchmark prints them.

use tts_batch::chunk::{char_count, normalize, pieces, pieces_keeping};
use tts_batch::manifest::markdown::{MarkdownOptions, chapters};

/// The spoken text of every chapter of the Markdown corpus books.
pub fn corpus_chapters() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in ["alice.md", "chinese-novel.md", "rust-book-ch01-03.md"] {
        let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(&path).expect("the test corpus (tests/corpus)");
        for chapter in chapters(&source, &MarkdownOptions::default()) {
            out.push((
                format!("{name} {}", chapter.title),
                normalize(&chapter.text),
            ));
        }
    }
    out
}

/// Figures of one packing of a set of texts at one `max_chars`.
#[derive(Debug)]
pub struct Packing {
    pub max_chars: usize,
    /// Pieces of the texts longer than `max_chars` (the ones that are cut).
    pub pieces: usize,
    /// The fewest pieces those texts could be cut into at paragraph ends (greedy packing).
    pub fewest: usize,
    /// Their characters over `pieces * max_chars`.
    pub fill: f64,
    pub edits: usize,
    /// Pieces of the edited text that were not pieces before, per edit, as a run packs it: the
    /// queue's pieces of the item kept where the text still has them ([`pieces_keeping`]).
    pub changed_mean: f64,
    pub changed_max: usize,
    /// The same with no pieces to keep (a new queue, or `plan` before any run): [`pieces`]
    /// alone, whose content-defined cuts mostly fall back on the same paragraph ends.
    pub fresh_changed_mean: f64,
    pub fresh_changed_max: usize,
}

/// Packs `texts` at `max_chars` and makes `edits` random one-paragraph edits (a word inserted,
/// a word deleted, a word replaced, a sentence added or a sentence removed) to texts longer
/// than `max_chars`, counting the pieces each edit changes. Deterministic for a `seed`.
pub fn measure(texts: &[String], max_chars: usize, edits: usize, seed: u64) -> Packing {
    let long: Vec<&String> = texts.iter().filter(|t| char_count(t) > max_chars).collect();
    assert!(!long.is_empty(), "no text over {max_chars} characters");
    let (mut count, mut fewest, mut chars) = (0, 0, 0);
    for text in &long {
        count += pieces(text, max_chars).len();
        fewest += greedy(text, max_chars);
        chars += char_count(text);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut total, mut most) = (0, 0);
    let (mut fresh_total, mut fresh_most) = (0, 0);
    for _ in 0..edits {
        let text = long[rng.usize(..long.len())];
        let before = pieces(text, max_chars);
        let mut paragraphs: Vec<String> = text.split("\n\n").map(str::to_owned).collect();
        let k = rng.usize(..paragraphs.len());
        paragraphs[k] = edit(&paragraphs[k], &mut rng);
        let edited = paragraphs.join("\n\n");
        let after = pieces_keeping(&edited, max_chars, &before);
        let changed = after.iter().filter(|p| !before.contains(p)).count();
        total += changed;
        most = most.max(changed);
        let fresh = pieces(&edited, max_chars);
        let changed = fresh.iter().filter(|p| !before.contains(p)).count();
        fresh_total += changed;
        fresh_most = fresh_most.max(changed);
    }
    Packing {
        max_chars,
        pieces: count,
        fewest,
        fill: chars as f64 / (count * max_chars) as f64,
        edits,
        changed_mean: total as f64 / edits as f64,
        changed_max: most,
        fresh_changed_mean: fresh_total as f64 / edits as f64,
        fresh_changed_max: fresh_most,
    }
}

/// One random edit of a paragraph.
fn edit(paragraph: &str, rng: &mut fastrand::Rng) -> String {
    let mut words: Vec<&str> = paragraph.split(' ').collect();
    let at = rng.usize(..words.len());
    match rng.u8(..5) {
        0 => words.insert(at, "indeed"),
        1 if words.len() > 1 => {
            words.remove(at);
        }
        2 => words[at] = "something",
        3 => words.insert(at, "And then, quite suddenly, nothing at all happened."),
        _ => {
            // Remove a sentence: the words from `at` up to the next one ending in a full stop.
            let end = (at..words.len())
                .find(|&i| words[i].ends_with('.'))
                .map_or(words.len(), |i| i + 1);
            if end - at < words.len() {
                words.drain(at..end);
            }
        }
    }
    words.join(" ")
}

/// Pieces of `text` packed greedily at paragraph ends (an overlong paragraph counted as the
/// fewest pieces its length needs): the fewest there can be.
fn greedy(text: &str, max: usize) -> usize {
    let (mut count, mut current) = (0, 0);
    for paragraph in text.split("\n\n") {
        let chars = char_count(paragraph.trim());
        if chars == 0 {
            continue;
        }
        if chars > max {
            count += usize::from(current > 0) + chars.div_ceil(max);
            current = 0;
        } else if current == 0 {
            current = chars;
        } else if current + 2 + chars <= max {
            current += 2 + chars;
        } else {
            count += 1;
            current = chars;
        }
    }
    count + usize::from(current > 0)
}
