//! Pieces are packed full, and an edit still changes few of them (SPEC §3): measured on the
//! corpus books over random one-paragraph edits (`support::packing`, which the benchmark also
//! prints, with the most pieces one edit changed).

use crate::support::packing::{corpus_chapters, measure};

#[test]
fn pieces_are_full_and_edits_stay_local() {
    let texts: Vec<String> = corpus_chapters().into_iter().map(|(_, t)| t).collect();
    for max_chars in [4096, 2000] {
        let p = measure(&texts, max_chars, 300, max_chars as u64);
        eprintln!("{p:?}");
        assert!(p.fill >= 0.8, "{p:?}");
        assert!(p.changed_mean <= 1.3, "{p:?}");
        // Within 10% of the fewest pieces the texts can be cut into at paragraph ends.
        assert!(p.pieces * 10 <= p.fewest * 11, "{p:?}");
    }
}
