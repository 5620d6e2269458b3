//! Text preparation for speech requests. This module owns normalisation (so the same text
//! always gives the same pieces, and the same fingerprints) and splitting text longer than the
//! API's request limit into pieces: whole paragraphs packed between content-defined cuts, so an
//! edit moves no piece boundary outside its own neighbourhood ([`pieces`]); a paragraph longer
//! than a request at the most natural points available: sentence ends, then clause ends, then
//! spaces, then other word boundaries, and only as a last resort inside a word, between
//! grapheme clusters ([`split`]).

use unicode_segmentation::UnicodeSegmentation;

pub use crate::manifest::normalize;

/// Cuts already-normalised `text` into the pieces of one item, each at most `max_chars`
/// characters: pieces packed full, yet placed so that an edit stays local.
///
/// Text that fits in one request is one piece. Otherwise the text is cut into atoms: each
/// paragraph, or, for a paragraph longer than `max_chars`, each of its sentences (a sentence
/// longer than that cut by [`split`]). Pieces are then taken from the front: when the rest fits
/// in one piece it is one piece; when it fits in two, the cut is the strongest one that leaves
/// both under the limit; otherwise the piece ends at the strongest atom end that makes it at
/// least [`FILL`] of the limit (the last one that fits if none does). An atom end's strength is
/// a hash of that atom's text alone, so where a piece ends depends only on the text near it, not
/// on where the piece starts: after an edit, the next cut falls back on the same strong atom
/// end, and the pieces after it keep their text (`benches/pipeline.rs` measures how full pieces
/// are and how many an edit changes; `tests/it/packing.rs` holds them to SPEC §3).
pub fn pieces(text: &str, max_chars: usize) -> Vec<String> {
    let text = text.trim();
    let max = max_chars.max(1);
    if text.is_empty() {
        return Vec::new();
    }
    if char_count(text) <= max {
        return vec![text.to_owned()];
    }
    let atoms = atoms(text, max);
    // chars[i]: characters of `text` before atom i's start; ends[i]: before its end.
    let mut starts = Vec::with_capacity(atoms.len());
    let mut ends = Vec::with_capacity(atoms.len());
    let (mut byte, mut chars) = (0, 0);
    for atom in &atoms {
        chars += char_count(&text[byte..atom.start]);
        starts.push(chars);
        chars += char_count(&text[atom.clone()]);
        ends.push(chars);
        byte = atom.end;
    }
    let len = |i: usize, j: usize| ends[j - 1] - starts[i];
    let strength: Vec<u64> = atoms.iter().map(|a| strength(&text[a.clone()])).collect();
    let low = ((max as f64) * FILL).ceil() as usize;
    let n = atoms.len();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < n {
        let end = if len(start, n) <= max {
            n
        } else {
            // Ends j (exclusive) whose piece start..j fits.
            let fits = (start + 1..n).take_while(|&j| len(start, j) <= max);
            let strongest =
                |ends: &mut dyn Iterator<Item = usize>| ends.max_by_key(|&j| (strength[j - 1], j));
            strongest(&mut fits.clone().filter(|&j| len(j, n) <= max))
                .or_else(|| strongest(&mut fits.clone().filter(|&j| len(start, j) >= low)))
                .or_else(|| fits.last())
                .unwrap_or(start + 1)
        };
        pieces.push(text[atoms[start].start..atoms[end - 1].end].to_owned());
        start = end;
    }
    pieces
}

/// [`pieces`] for a text whose item already has `previous` pieces (in the queue, made at the
/// same `max_chars`): every previous piece that the text still holds whole, at atom boundaries
/// and in order, is kept as it is, and only the text between kept pieces is packed anew (by
/// [`pieces`]). An edit inside one piece thus changes that piece, or two if it no longer fits,
/// and never moves a cut after it: no cascade. With no previous pieces this is [`pieces`].
pub fn pieces_keeping(text: &str, max_chars: usize, previous: &[String]) -> Vec<String> {
    let text = text.trim();
    let max = max_chars.max(1);
    if previous.is_empty() || char_count(text) <= max {
        return pieces(text, max);
    }
    let atoms = atoms(text, max);
    let starts: std::collections::HashSet<usize> = atoms.iter().map(|a| a.start).collect();
    let ends: std::collections::HashSet<usize> = atoms.iter().map(|a| a.end).collect();
    // Byte ranges of the kept pieces, in order.
    let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
    let mut cursor: usize = 0;
    for piece in previous {
        if piece.is_empty() || char_count(piece) > max {
            continue;
        }
        // Looked for within the next [`KEEP_REACH`] pieces' worth of text: each search is
        // bounded, so a text that kept nothing costs linear time, not pieces × text.
        let mut reach = cursor
            .saturating_add(KEEP_REACH.saturating_mul(max).saturating_mul(4))
            .min(text.len());
        while !text.is_char_boundary(reach) {
            reach -= 1;
        }
        let found = text[cursor..reach]
            .match_indices(piece.as_str())
            .map(|(at, _)| cursor + at)
            .find(|&at| starts.contains(&at) && ends.contains(&(at + piece.len())));
        if let Some(at) = found {
            kept.push(at..at + piece.len());
            cursor = at + piece.len();
        }
    }
    let mut out = Vec::new();
    let mut from = 0;
    for range in kept {
        out.extend(pieces(&text[from..range.start], max));
        out.push(text[range.clone()].to_owned());
        from = range.end;
    }
    out.extend(pieces(&text[from..], max));
    out
}

/// How far ahead of the last kept piece [`pieces_keeping`] looks for the next one, in pieces of
/// `max_chars` characters: an edit that adds more text than this between two pieces keeps
/// none after it.
const KEEP_REACH: usize = 16;

/// The share of `--max-chars` a piece is filled to before it may end at any atom end.
const FILL: f64 = 0.7;

/// The atoms of `text` that [`pieces`] packs, as trimmed byte ranges in order: paragraphs of at
/// most `max` characters, else their sentences, else [`split`]'s pieces of a sentence.
fn atoms(text: &str, max: usize) -> Vec<std::ops::Range<usize>> {
    let mut atoms = Vec::new();
    let push_split = |atoms: &mut Vec<std::ops::Range<usize>>, offset: usize, part: &str| {
        // `split`'s pieces are `part` in order with only whitespace between them.
        let mut cursor = 0;
        for piece in split(part, max) {
            let at = part[cursor..]
                .find(piece.as_str())
                .map_or(cursor, |i| cursor + i);
            atoms.push(offset + at..offset + at + piece.len());
            cursor = at + piece.len();
        }
    };
    let mut offset = 0;
    for paragraph in text.split("\n\n") {
        let here = offset;
        offset += paragraph.len() + 2;
        let trimmed = paragraph.trim();
        if trimmed.is_empty() {
            continue;
        }
        let at = here + (paragraph.len() - paragraph.trim_start().len());
        if char_count(trimmed) <= max {
            atoms.push(at..at + trimmed.len());
            continue;
        }
        let mut from = 0;
        let ends = breaks(trimmed)
            .into_iter()
            .filter(|b| b.level == Level::Sentence)
            .map(|b| b.byte)
            .chain([trimmed.len()]);
        for end in ends {
            let sentence = &trimmed[from..end];
            let lead = sentence.len() - sentence.trim_start().len();
            push_split(&mut atoms, at + from + lead, sentence.trim());
            from = end;
        }
    }
    atoms
}

/// How strong a cut after this atom is: a hash of its text alone (stable across runs,
/// versions and platforms: SHA-256).
fn strength(paragraph: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(paragraph.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Splits already-normalised `text` into pieces of at most `max_chars` characters (Unicode scalar
/// values, i.e. `str::chars().count()`), `max_chars >= 1`.
///
/// Pieces are packed greedily: each takes as much text as fits, ending at the last sentence end
/// that fits, else the last clause end (`,` `;` `:` `—` `，` `、` `；` `：` …, with any closing
/// brackets or quotes), else the last space, else the last other word boundary (UAX #29, so
/// CJK text splits between characters), else between grapheme clusters. UAX #29 sentence ends
/// after common abbreviations and initials ("Dr. Smith", "J. R. R. Tolkien") count only as
/// spaces; those at a line break inside a sentence, or before a lowercase word ("“Who are
/// you?” said the Caterpillar"), count as clause ends. Pieces carry no leading or trailing
/// whitespace; whitespace at a split point is dropped, so the text is the pieces in order with
/// only whitespace between them. Empty text gives no pieces.
///
/// A grapheme cluster longer than `max_chars` (only possible for tiny limits, e.g. an emoji
/// ZWJ sequence) is never cut: it becomes a piece of its own, over the limit.
pub fn split(text: &str, max_chars: usize) -> Vec<String> {
    let text = text.trim();
    let max = max_chars.max(1);
    let total = char_count(text);
    if total == 0 {
        return Vec::new();
    }
    if total <= max {
        return vec![text.to_owned()];
    }
    // Segmentation runs once over the whole text; each piece then only looks at the break
    // points inside its own window, so the cost stays linear in the text.
    let breaks = breaks(text);
    let mut pieces = Vec::with_capacity(total / max + 1);
    let (mut byte, mut chars) = (0, 0);
    let mut first = 0;
    while byte < text.len() {
        if total - chars <= max {
            pieces.push(text[byte..].to_owned());
            break;
        }
        while breaks.get(first).is_some_and(|b| b.byte <= byte) {
            first += 1;
        }
        let limit = chars + max;
        let best = breaks
            .iter()
            .skip(first)
            .take_while(|b| b.chars <= limit)
            .fold(None::<&Break>, |best, b| match best {
                Some(best) if best.level > b.level => Some(best),
                _ => Some(b),
            });
        let (end, end_chars) = match best {
            Some(b) => (b.byte, b.chars),
            None => grapheme_end(text, byte, chars, max),
        };
        pieces.push(text[byte..end].trim_end().to_owned());
        let rest = &text[end..];
        let gap = rest.len() - rest.trim_start().len();
        byte = end + gap;
        chars = end_chars + char_count(&rest[..gap]);
    }
    pieces
}

/// Number of characters as the API counts them (chars().count()).
pub fn char_count(text: &str) -> usize {
    text.chars().count()
}

/// How good a place to end a piece is; later variants are preferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    /// A word boundary with no whitespace: between CJK characters, or inside a URL.
    Word,
    /// A word boundary followed by whitespace.
    Space,
    /// After clause punctuation and any closing brackets or quotes.
    Clause,
    /// A UAX #29 sentence boundary that is not after an abbreviation.
    Sentence,
}

/// A place where a piece may end: just after a non-whitespace character, at a word boundary.
#[derive(Clone, Copy, Debug)]
struct Break {
    byte: usize,
    /// Characters before `byte`, so a piece's length is a subtraction.
    chars: usize,
    level: Level,
}

/// Clause punctuation that ends a clause wherever it stands.
const CLAUSE_MARKS: &[char] = &['—', '，', '、', '；', '：', '﹐', '﹑', '﹔', '﹕', '､'];
/// Clause punctuation that ends a clause only before whitespace, so "3:45", "1990–2000" and
/// "a,b" stay whole.
const SPACED_CLAUSE_MARKS: &[char] = &[',', ';', ':', '–', '…', '،', '؛'];
const CLOSERS: &[char] = &[
    ')', ']', '}', '"', '\'', '”', '’', '»', '›', '」', '』', '）', '］', '｝', '】', '》', '〉',
    '〕', '〗', '〙', '〛', '〞', '＂', '＇',
];
const OPENERS: &[char] = &[
    '(', '[', '{', '"', '\'', '“', '‘', '«', '‹', '「', '『', '（', '［', '｛', '【', '《', '〈',
];
/// Punctuation that ends a sentence; used to tell a line break inside a sentence (verse, a
/// list, hard-wrapped text) from one after a finished sentence.
const TERMINALS: &[char] = &[
    '.', '!', '?', '。', '！', '？', '｡', '…', '‼', '⁇', '⁈', '⁉', '؟', '।', '॥', '︒', '﹒', '﹖',
    '﹗',
];
/// Compared ASCII-case-insensitively with the last word before a UAX #29 sentence boundary.
const ABBREVIATIONS: &[&str] = &[
    "mr.", "mrs.", "ms.", "dr.", "prof.", "sr.", "jr.", "st.", "mt.", "vs.", "etc.", "e.g.",
    "i.e.", "cf.", "no.", "fig.", "vol.", "inc.", "ltd.", "co.", "a.m.", "p.m.", "u.s.",
];

/// Every place a piece may end, in text order, each with its best level.
fn breaks(text: &str) -> Vec<Break> {
    let mut breaks = Vec::new();
    let mut chars = 0;
    let mut words = text.split_word_bound_indices().peekable();
    while let Some((at, word)) = words.next() {
        chars += char_count(word);
        // The end of the text is never a split point: the last piece simply takes it.
        let Some(&(_, next)) = words.peek() else {
            break;
        };
        if word.ends_with(char::is_whitespace) {
            continue;
        }
        let byte = at + word.len();
        let spaced = next.starts_with(char::is_whitespace);
        let level = if ends_clause(&text[..byte], spaced) {
            Level::Clause
        } else if spaced {
            Level::Space
        } else {
            Level::Word
        };
        breaks.push(Break { byte, chars, level });
    }
    // Sentence boundaries only upgrade word boundaries, so whatever UAX #29 says, a piece never
    // ends inside a word.
    for (at, sentence) in text.split_sentence_bound_indices() {
        let content = sentence.trim_end();
        let byte = at + content.len();
        if content.is_empty() || is_abbreviation(content) {
            continue;
        }
        let gap = &sentence[content.len()..];
        let after = &text[at + sentence.len()..];
        let paragraph = gap.matches('\n').count() >= 2;
        // UAX #29 breaks at every line break and after "?" or "!" even before a lowercase
        // word ("“Who are you?” said the Caterpillar."); those are pauses, not sentence ends.
        let level = if !paragraph
            && ((gap.contains('\n') && !ends_with_any(content, TERMINALS))
                || after.starts_with(char::is_lowercase))
        {
            Level::Clause
        } else {
            Level::Sentence
        };
        if let Ok(i) = breaks.binary_search_by_key(&byte, |b| b.byte) {
            breaks[i].level = breaks[i].level.max(level);
        }
    }
    breaks
}

/// Whether `before` ends with clause punctuation, possibly followed by closing brackets or
/// quotes; `spaced` says whether whitespace follows.
fn ends_clause(before: &str, spaced: bool) -> bool {
    ends_with_any(before, CLAUSE_MARKS) || (spaced && ends_with_any(before, SPACED_CLAUSE_MARKS))
}

/// Whether `text` ends with one of `marks`, ignoring up to three closing brackets or quotes
/// (bounded so a long run of brackets costs nothing).
fn ends_with_any(text: &str, marks: &[char]) -> bool {
    text.chars()
        .rev()
        .take(4)
        .find(|c| !CLOSERS.contains(c))
        .is_some_and(|c| marks.contains(&c))
}

/// Whether the sentence `content` ends with an abbreviation or an initial ("J."), after which
/// UAX #29 sees a sentence end before a capital letter ("Dr. Smith").
fn is_abbreviation(content: &str) -> bool {
    let word = content
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or(content)
        .trim_start_matches(OPENERS);
    let mut letters = word.chars();
    let initial = matches!(
        (letters.next(), letters.next(), letters.next()),
        (Some(c), Some('.'), None) if c.is_uppercase()
    );
    initial || ABBREVIATIONS.iter().any(|a| a.eq_ignore_ascii_case(word))
}

/// End of the longest run of whole grapheme clusters from `byte` that fits in `max`
/// characters, or of the first cluster alone if even that does not fit; with its char offset.
fn grapheme_end(text: &str, byte: usize, chars: usize, max: usize) -> (usize, usize) {
    let mut end = (byte, chars);
    for grapheme in text[byte..].graphemes(true) {
        let n = char_count(grapheme);
        if end.0 > byte && end.1 + n > chars + max {
            break;
        }
        end = (end.0 + grapheme.len(), end.1 + n);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHINESE: &str = "蓋聞天地之數，有十二萬九千六百歲為一元。將一元分為十二會，\
        乃子、丑、寅、卯、辰、巳、午、未、申、酉、戌、亥之十二支也。每會該一萬八百歲。\
        且就一日而論：子時得陽氣，而丑則雞鳴﹔寅不通光，而卯則日出﹔辰時食後，而巳則挨排﹔\
        日午天中，而未則西蹉﹔申時晡，而日落酉，戌黃昏，而人定亥。";

    /// The text is the pieces in order with only whitespace between them, every piece is
    /// trimmed and non-empty, and none is over `max` unless it is one grapheme cluster.
    fn check(text: &str, pieces: &[String], max: usize) {
        let mut rest = text.trim();
        for (i, piece) in pieces.iter().enumerate() {
            assert!(!piece.is_empty(), "empty piece {i}");
            assert_eq!(piece.trim(), piece, "untrimmed piece {i}");
            assert!(
                char_count(piece) <= max || piece.graphemes(true).count() == 1,
                "piece {i} over {max}: {piece:?}"
            );
            let after = rest.trim_start();
            rest = after
                .strip_prefix(piece.as_str())
                .unwrap_or_else(|| panic!("piece {i} {piece:?} is not next in {after:?}"));
        }
        assert!(rest.is_empty(), "text left over: {rest:?}");
    }

    fn split_checked(text: &str, max: usize) -> Vec<String> {
        let pieces = split(text, max);
        check(text, &pieces, max);
        pieces
    }

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split("Hello, world.", 100), ["Hello, world."]);
        assert_eq!(split("Hello, world.", 13), ["Hello, world."]);
        assert!(split("", 10).is_empty());
    }

    #[test]
    fn paragraph_splits_at_sentence_ends() {
        let text = "Alice was beginning to get very tired. She had nothing to do. \
                    Once or twice she had peeped into the book her sister was reading.";
        assert_eq!(
            split_checked(text, 70),
            [
                "Alice was beginning to get very tired. She had nothing to do.",
                "Once or twice she had peeped into the book her sister was reading."
            ]
        );
    }

    #[test]
    fn abbreviations_and_initials_are_not_sentence_ends() {
        let text = "He asked Dr. Smith, who was busy, to look at her.";
        let pieces = split_checked(text, 40);
        assert_eq!(
            pieces,
            ["He asked Dr. Smith, who was busy,", "to look at her."]
        );
        let text = "The author J. R. R. Tolkien wrote books.";
        let pieces = split_checked(text, 35);
        assert_eq!(pieces, ["The author J. R. R. Tolkien wrote", "books."]);
        // With nothing better in reach, the spot after "Dr." is still a space to split at.
        let pieces = split_checked("Dr. Smithsonian", 6);
        assert_eq!(pieces, ["Dr.", "Smiths", "onian"]);
    }

    #[test]
    fn long_sentence_splits_at_clause_ends() {
        let text = "When the rabbit ran past, Alice followed it across the field, \
                    down the hole; then she fell: slowly, very slowly, for a long time.";
        let pieces = split_checked(text, 50);
        assert_eq!(
            pieces,
            [
                "When the rabbit ran past,",
                "Alice followed it across the field, down the hole;",
                "then she fell: slowly, very slowly,",
                "for a long time."
            ]
        );
    }

    #[test]
    fn words_without_punctuation_split_at_spaces() {
        let words: Vec<_> = "lorem ipsum dolor sit amet consectetur adipiscing"
            .split(' ')
            .collect();
        let text = words
            .iter()
            .cycle()
            .take(500)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        for max in [11, 20, 97] {
            for piece in split_checked(&text, max) {
                assert!(piece.split(' ').all(|w| words.contains(&w)), "{piece:?}");
            }
        }
    }

    #[test]
    fn overlong_word_splits_between_graphemes() {
        let word = "a".repeat(10_000);
        let lengths: Vec<_> = split_checked(&word, 4096).iter().map(|p| p.len()).collect();
        assert_eq!(lengths, [4096, 4096, 1808]);
        // "é" as e + combining acute: two chars that must stay together.
        let word = "e\u{301}".repeat(5000);
        for piece in split_checked(&format!("x {word} y"), 101) {
            assert!(!piece.starts_with('\u{301}'), "cut inside a grapheme");
        }
        // A cluster longer than the limit is a piece of its own.
        assert_eq!(split_checked("👨‍👩‍👧👍", 2), ["👨‍👩‍👧", "👍"]);
    }

    #[test]
    fn chinese_splits_at_cjk_sentence_and_clause_ends() {
        assert_eq!(
            split_checked(CHINESE, 50),
            [
                "蓋聞天地之數，有十二萬九千六百歲為一元。",
                "將一元分為十二會，乃子、丑、寅、卯、辰、巳、午、未、申、酉、戌、亥之十二支也。每會該一萬八百歲。",
                "且就一日而論：子時得陽氣，而丑則雞鳴﹔寅不通光，而卯則日出﹔辰時食後，而巳則挨排﹔日午天中，",
                "而未則西蹉﹔申時晡，而日落酉，戌黃昏，而人定亥。",
            ]
        );
        // With no punctuation in reach, CJK still splits: each ideograph is a word.
        let pieces = split_checked("天地之數有十二萬", 3);
        assert_eq!(pieces, ["天地之", "數有十", "二萬"]);
    }

    #[test]
    fn japanese_keeps_katakana_words_whole() {
        let text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。\
                    何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。";
        assert_eq!(
            split_checked(text, 20),
            [
                "吾輩は猫である。名前はまだ無い。",
                "どこで生れたかとんと見当がつかぬ。",
                "何でも薄暗いじめじめした所でニャーニャー",
                "泣いていた事だけは記憶している。",
            ]
        );
        // At 18 the katakana word does not fit, so the split comes before it, not inside it.
        let pieces = split_checked(text, 18);
        assert_eq!(
            pieces[2..4],
            [
                "何でも薄暗いじめじめした所で",
                "ニャーニャー泣いていた事だけは記憶し"
            ]
        );
    }

    #[test]
    fn korean_splits_at_sentences_then_spaces() {
        let text = "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 \
                    국민으로부터 나온다. 모든 국민은 인간으로서의 존엄과 가치를 가진다.";
        assert_eq!(
            split_checked(text, 30),
            [
                "대한민국은 민주공화국이다.",
                "대한민국의 주권은 국민에게 있고,",
                "모든 권력은 국민으로부터 나온다.",
                "모든 국민은 인간으로서의 존엄과 가치를 가진다.",
            ]
        );
    }

    #[test]
    fn pauses_that_uax29_calls_sentence_ends_are_clause_ends() {
        let text = "“Who are you?” said the Caterpillar, yawning.";
        let pieces = split_checked(text, 40);
        assert_eq!(pieces, ["“Who are you?” said the Caterpillar,", "yawning."]);
        // Verse: the line break without punctuation is a pause, the one after "." a sentence end.
        let text = "Twinkle, twinkle, little bat\nHow I wonder what you're at.\nUp above";
        let pieces = split_checked(text, 60);
        assert_eq!(
            pieces,
            [
                "Twinkle, twinkle, little bat\nHow I wonder what you're at.",
                "Up above"
            ]
        );
    }

    #[test]
    fn normalize_cleans_whitespace() {
        assert_eq!(normalize("a\r\nb\rc\n"), "a\nb\nc");
        assert_eq!(normalize("  a\u{3000}\u{3000}b\u{a0}c\t \td  "), "a b c d");
        assert_eq!(normalize("a  \n\n\n\nb"), "a\n\nb");
        assert_eq!(normalize("a \n \n b"), "a\n\n b");
        assert_eq!(normalize(" \n\t "), "");
        let messy = "\u{feff}Title \r\n\r\n\r\n  Body\u{2029}end\u{2028}.";
        assert_eq!(normalize(&normalize(messy)), normalize(messy));
    }

    #[test]
    fn corpus_splits_cleanly() {
        for name in ["alice.md", "chinese-novel.md"] {
            let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
            let text = normalize(&std::fs::read_to_string(&path).unwrap());
            for max in [4096, 500] {
                let pieces = split_checked(&text, max);
                // Both texts have sentences far shorter than 500 characters.
                let at_sentence_end = pieces.iter().filter(|p| ends_with_any(p, TERMINALS));
                assert!(
                    at_sentence_end.count() * 10 >= pieces.len() * 9,
                    "{name} at {max}"
                );
            }
        }
    }

    /// One of the space-separated `tokens`.
    fn one_of(tokens: &'static str) -> impl Strategy<Value = String> {
        prop::sample::select(tokens.split(' ').collect::<Vec<_>>()).prop_map(String::from)
    }

    /// Text built from the things that make splitting hard: words, punctuation and
    /// abbreviations, every kind of whitespace, CJK, emoji and combining marks.
    fn messy_text() -> impl Strategy<Value = String> {
        let spaces = vec![
            " ", "\n", "\n\n\n", "\t", "\r\n", "\u{3000}", "\u{a0}", "  ",
        ];
        let token = prop_oneof![
            4 => "[a-zA-Z]{1,12}",
            2 => one_of(". , ; : ! ? — … \" ” ) 。 ， ！ 」"),
            3 => prop::sample::select(spaces).prop_map(String::from),
            2 => "[\u{4e00}-\u{9fff}\u{3040}-\u{30ff}\u{ac00}-\u{d7a3}]{1,8}",
            1 => one_of("😀 👍🏽 👨‍👩‍👧 🇯🇵 e\u{301} \u{301} a\u{308}\u{304}"),
            1 => one_of("Dr. Mr. U.S. e.g. J. etc. 3.14 https://example.com/a"),
        ];
        prop::collection::vec(token, 0..120).prop_map(|tokens| tokens.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn normalize_is_idempotent(text in prop_oneof![messy_text(), any::<String>()]) {
            let once = normalize(&text);
            prop_assert_eq!(normalize(&once), once);
        }

        #[test]
        fn split_tiles_normalized_text(text in messy_text(), max in 1usize..300) {
            split_checked(&normalize(&text), max);
        }

        #[test]
        fn split_tiles_any_text(text in any::<String>(), max in 1usize..300) {
            split_checked(&text, max);
            split_checked(&normalize(&text), max);
        }
    }
}

#[cfg(test)]
mod packing_tests {
    use super::*;

    fn alice_chapters() -> Vec<String> {
        let src = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/corpus/alice.md"
        ))
        .expect("the test corpus (tests/corpus)");
        src.split("\n## ")
            .skip(1)
            .map(|c| normalize(&format!("## {c}")))
            .collect()
    }

    #[test]
    fn pieces_fit_and_keep_all_text() {
        for max in [300, 1000, 4096] {
            for ch in alice_chapters() {
                let p = pieces(&ch, max);
                assert!(p.iter().all(|x| char_count(x) <= max));
                let joined: String = p.join(" ").split_whitespace().collect();
                let orig: String = ch.split_whitespace().collect();
                assert_eq!(joined, orig);
            }
        }
    }

    #[test]
    fn kept_pieces_stay_and_only_the_edited_one_changes() {
        for ch in alice_chapters() {
            let before = pieces(&ch, 1000);
            if before.len() < 3 {
                continue;
            }
            // Unchanged text keeps every piece.
            assert_eq!(pieces_keeping(&ch, 1000, &before), before);
            // A sentence added to the second piece's first paragraph: only that piece changes
            // (two if it no longer fits), and the text is whole.
            let paragraph = before[1].split("\n\n").next().unwrap();
            let edited = ch.replacen(
                paragraph,
                &format!("{paragraph} And then, quite suddenly, nothing at all happened."),
                1,
            );
            let after = pieces_keeping(&edited, 1000, &before);
            assert!(after.iter().all(|p| char_count(p) <= 1000));
            let joined: String = after.join(" ").split_whitespace().collect();
            let orig: String = edited.split_whitespace().collect();
            assert_eq!(joined, orig);
            let changed = after.iter().filter(|p| !before.contains(p)).count();
            assert!((1..=2).contains(&changed), "{changed} pieces changed");
            assert_eq!(after[0], before[0]);
            assert_eq!(after[after.len() - 1], before[before.len() - 1]);
        }
        // Whatever the edit (a long insertion, a repeated text), the pieces are the text.
        let book = alice_chapters().join("\n\n");
        let before = pieces(&book, 1000);
        let middle = book.len() / 2;
        let cut = (middle..book.len())
            .find(|&i| book[i..].starts_with("\n\n"))
            .unwrap();
        let inserted = format!("{}\n\n{}{}", &book[..cut], book, &book[cut..]);
        for text in [inserted, format!("{book}\n\n{book}")] {
            let after = pieces_keeping(&text, 1000, &before);
            assert!(after.iter().all(|p| char_count(p) <= 1000 && p.trim() == p));
            let joined: String = after.join(" ").split_whitespace().collect();
            let orig: String = text.split_whitespace().collect();
            assert_eq!(joined, orig);
            assert_eq!(after[0], before[0]);
        }

        // No previous pieces, or pieces the text no longer has: packed as new.
        let ch = &alice_chapters()[0];
        assert_eq!(pieces_keeping(ch, 1000, &[]), pieces(ch, 1000));
        let stale = vec!["Not in the text.".to_owned()];
        assert_eq!(pieces_keeping(ch, 1000, &stale), pieces(ch, 1000));
    }

    #[test]
    fn an_edit_changes_one_piece() {
        let chapters = alice_chapters();
        for max in [1000usize, 4096] {
            let mut total_new = 0;
            let mut total_pieces = 0;
            let mut old_pieces = 0;
            let mut edits = 0;
            for ch in &chapters {
                let before = pieces(ch, max);
                total_pieces += before.len();
                old_pieces += split(ch, max).len();
                let paragraphs: Vec<&str> = ch.split("\n\n").collect();
                for k in (1..paragraphs.len()).step_by(3) {
                    let mut edited: Vec<String> =
                        paragraphs.iter().map(|s| s.to_string()).collect();
                    edited[k] = edited[k].replacen(' ', " very ", 1);
                    let after = pieces(&edited.join("\n\n"), max);
                    let new = after.iter().filter(|p| !before.contains(p)).count();
                    total_new += new;
                    edits += 1;
                }
            }
            eprintln!(
                "max {max}: {total_pieces} pieces (greedy split: {old_pieces}); {edits} edits → {total_new} new pieces"
            );
        }
    }
}
