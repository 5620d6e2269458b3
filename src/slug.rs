//! File-name slugs of titles: a chapter's file (`manifest`) and the book file (`book`) both
//! take their names from titles, so the rule lives here, below both.

use unicode_segmentation::UnicodeSegmentation;

/// Longest slug, in chars: with a 4-byte worst case per char this keeps `NN-slug.ext` well
/// under the usual 255-byte file-name limit.
pub const MAX_SLUG_CHARS: usize = 60;

/// File-name slug of a title: lowercase; Unicode letters and digits kept (CJK stays as is),
/// everything else becomes '-', runs of '-' collapsed, no leading/trailing '-'; a leading
/// "chapter <number>" prefix (arabic or roman numerals, English "chapter"/"part" case-insensitive,
/// followed by optional '.' ':' or '-') is dropped, since the file name already carries the
/// number: "CHAPTER II. The Pool of Tears" → "the-pool-of-tears". Truncated to at most 60 chars
/// on a char boundary (no trailing '-'). May return "" (the caller then uses the number alone).
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    let mut chars = 0;
    // A '-' is owed before the next kept grapheme; writing it lazily collapses runs and keeps
    // it off both ends.
    let mut dash_owed = false;
    // Graphemes, not chars, so that a letter keeps its combining marks (decomposed accents,
    // Indic vowel signs), which are not alphanumeric on their own.
    for grapheme in without_chapter_prefix(title).graphemes(true) {
        if !grapheme.chars().next().is_some_and(char::is_alphanumeric) {
            dash_owed = !slug.is_empty();
            continue;
        }
        let lower = grapheme.to_lowercase();
        let needed = lower.chars().count() + usize::from(dash_owed);
        if chars + needed > MAX_SLUG_CHARS {
            break;
        }
        if dash_owed {
            slug.push('-');
            dash_owed = false;
        }
        slug.push_str(&lower);
        chars += needed;
    }
    slug
}

/// `title` without a leading "Chapter 3." / "PART IV:" prefix, or `title` itself.
fn without_chapter_prefix(title: &str) -> &str {
    let trimmed = title.trim_start();
    let word_len = trimmed
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(trimmed.len());
    let (word, rest) = trimmed.split_at(word_len);
    if !(word.eq_ignore_ascii_case("chapter") || word.eq_ignore_ascii_case("part")) {
        return title;
    }
    let numbered = rest.trim_start();
    if numbered.len() == rest.len() {
        return title;
    }
    let number_len = numbered
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(numbered.len());
    let (number, rest) = numbered.split_at(number_len);
    let is_number = !number.is_empty()
        && (number.bytes().all(|b| b.is_ascii_digit()) || is_roman_numeral(number));
    if !is_number {
        return title;
    }
    let rest = rest.trim_start();
    rest.strip_prefix(['.', ':', '-']).unwrap_or(rest)
}

/// Whether `word` is a roman numeral in canonical form (either case), so that "Chapter Dim
/// Lights" keeps its "dim". "Mix" still passes (it is 1009); such titles are rare enough.
fn is_roman_numeral(word: &str) -> bool {
    const DIGITS: [(u32, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let upper = word.to_ascii_uppercase();
    let mut rest = upper.as_str();
    // Greedy matching against the canonical digit table accepts exactly the canonical
    // numerals once repeats are limited: at most three of M, C, X, I and one of anything else.
    for (value, digit) in DIGITS {
        let max_repeats = if [1000, 100, 10, 1].contains(&value) {
            3
        } else {
            1
        };
        for _ in 0..max_repeats {
            match rest.strip_prefix(digit) {
                Some(shorter) => rest = shorter,
                None => break,
            }
        }
    }
    rest.is_empty() && !upper.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("CHAPTER II. The Pool of Tears"), "the-pool-of-tears");
        assert_eq!(slug("Chapter 3: A Caucus-Race"), "a-caucus-race");
        assert_eq!(slug("part iv - The End"), "the-end");
        assert_eq!(slug("Chapter XII"), "");
        assert_eq!(slug("Chapterhouse 5"), "chapterhouse-5");
        assert_eq!(slug("Chapter Dim Lights"), "chapter-dim-lights");
        assert_eq!(slug("Chapter IIII"), "chapter-iiii");
        assert_eq!(slug("The Chapter 2 Problem"), "the-chapter-2-problem");
        assert_eq!(slug("  --Hello,   World!--  "), "hello-world");
        assert_eq!(slug("Alice’s Evidence"), "alice-s-evidence");
        assert_eq!(slug("Café Ŝtraße Ÿ"), "café-ŝtraße-ÿ");
        assert_eq!(slug("Cafe\u{301} ok"), "cafe\u{301}-ok");
        assert_eq!(slug("हिन्दी पाठ"), "हिन्दी-पाठ");
        assert_eq!(slug("第一回 靈根"), "第一回-靈根");
        assert_eq!(slug("!!!"), "");
        assert_eq!(slug(""), "");
        let long = slug(&"word ".repeat(30));
        assert!(long.chars().count() <= MAX_SLUG_CHARS);
        assert_eq!(long, format!("{}word", "word-".repeat(11)));
        let cjk = slug(&"字".repeat(100));
        assert_eq!(cjk.chars().count(), MAX_SLUG_CHARS);
    }

    #[test]
    fn roman_numerals() {
        for numeral in ["I", "iv", "IX", "xii", "XL", "MCMXCIV", "mmxxvi"] {
            assert!(is_roman_numeral(numeral), "{numeral}");
        }
        for word in ["", "IIII", "IC", "VV", "DID", "abc", "MMMM"] {
            assert!(!is_roman_numeral(word), "{word}");
        }
    }
}
