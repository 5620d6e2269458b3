//! Plain-text manifests: one item per non-blank line, keyed by its line number.

use super::normalize;
use super::{Item, Overrides, padded};

/// Items of a lines manifest. Keys are line numbers zero-padded to the width of the line count
/// (at least 4): `0001` is line 1. An inserted line renumbers the lines after it; their audio is
/// found again by fingerprint, so that costs file copies, not requests.
pub(crate) fn items(text: &str) -> impl Iterator<Item = Item> + '_ {
    let total = text.lines().count();
    text.lines().enumerate().filter_map(move |(i, line)| {
        let spoken = normalize(line);
        if spoken.is_empty() {
            return None;
        }
        let key = padded(i + 1, total);
        Some(Item {
            output: key.clone(),
            key,
            title: None,
            text: spoken,
            overrides: Overrides::default(),
            has_extension: false,
            line: i as u64 + 1,
            replacements: 0,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_skipped_and_keys_are_line_numbers() {
        let items: Vec<Item> = items("first\n\n  \nfourth  line\r\n").collect();
        let keys: Vec<_> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["0001", "0004"]);
        assert_eq!(items[1].text, "fourth line");
        assert_eq!(items[1].line, 4);
    }

    #[test]
    fn keys_widen_with_the_line_count() {
        let text = "x\n".repeat(12_345);
        let items: Vec<Item> = items(&text).collect();
        assert_eq!(items[0].key, "00001");
        assert_eq!(items.last().map(|i| i.key.as_str()), Some("12345"));
    }
}
