//! Pieces are packed full, and an edit still changes few of them (SPEC §3): measured on the
//! corpus books over random one-paragraph edits, the edited text packed as a run packs it,
//! keeping the item's pieces from the queue (`support::packing`, which the benchmark also
//! prints, with the figures for packing with no queue).

use crate::support::packing::{corpus_chapters, measure};

#[test]
fn pieces_are_full_and_edits_stay_local() {
    let texts: Vec<String> = corpus_chapters().into_iter().map(|(_, t)| t).collect();
    for max_chars in [4096, 2000, 1000] {
        let p = measure(&texts, max_chars, 300, max_chars as u64);
        eprintln!("{p:?}");
        assert!(p.fill >= 0.8, "{p:?}");
        assert!(p.changed_mean <= 1.3, "{p:?}");
        assert!(p.changed_max <= 3, "{p:?}");
        // Within 10% of the fewest pieces the texts can be cut into at paragraph ends.
        assert!(p.pieces * 10 <= p.fewest * 11, "{p:?}");
    }
}

/// The pieces the fake API received.
fn sent(api: &crate::support::FakeApi) -> Vec<String> {
    api.successes()
        .iter()
        .filter_map(|r| r.body["input"].as_str().map(str::to_owned))
        .collect()
}

/// After a run, an edited paragraph costs the one piece that holds it (two if it no longer
/// fits), however the content-defined cuts would fall on the edited text: the run keeps the
/// item's pieces from the queue. `text` and `plan` show the same pieces before paying, and a
/// new `--max-chars` packs afresh.
#[test]
fn a_run_after_an_edit_requests_only_the_edited_piece() {
    use crate::support::{FakeApi, Workspace, assert_exit};
    let ws = Workspace::new();
    let source = std::fs::read_to_string(ws.corpus("alice.md")).unwrap();
    let api = FakeApi::start();
    let flags = ["--max-chars", "1000", "--audio-format", "wav"];
    assert_exit(&ws.run_against(&api, "alice.md", &flags), 0);
    let first = sent(&api);
    api.reset_log();

    // One edit after another (a sentence added to a paragraph of a different chapter each
    // time), a run after each.
    let mut paragraphs: Vec<String> = source.split("\n\n").map(str::to_owned).collect();
    let mut edits = 0;
    for (n, k) in (40..paragraphs.len()).step_by(67).enumerate() {
        if paragraphs[k].starts_with('#') || paragraphs[k].trim().is_empty() {
            continue;
        }
        let marker = format!("Edit number {n} happened here.");
        paragraphs[k] = format!("{} {marker}", paragraphs[k]);
        ws.write("alice.md", paragraphs.join("\n\n"));
        let preview = ws.run(&["text", "alice.md", "--max-chars", "1000"]);
        assert_exit(&preview, 0);
        assert_exit(&ws.run_against(&api, "alice.md", &flags), 0);
        let now = sent(&api);
        api.reset_log();
        assert!(
            (1..=2).contains(&now.len()),
            "edit {n} sent {} pieces: {now:#?}",
            now.len()
        );
        assert!(now.iter().any(|t| t.contains(&marker)), "{now:#?}");
        for piece in &now {
            assert!(
                preview.stdout.contains(piece.as_str()),
                "text shows what is sent"
            );
        }
        edits += 1;
    }
    assert!(edits >= 8 && !first.is_empty(), "{edits} edits");
    // Run again unchanged: nothing to send.
    assert_exit(&ws.run_against(&api, "alice.md", &flags), 0);
    assert!(sent(&api).is_empty());

    // Another --max-chars packs afresh, as a new queue would.
    let wider = ws.run(&["text", "alice.md", "--max-chars", "1500"]);
    let fresh = Workspace::new();
    fresh.write("alice.md", paragraphs.join("\n\n"));
    let fresh = fresh.run(&["text", "alice.md", "--max-chars", "1500"]);
    assert_exit(&wider, 0);
    assert_eq!(wider.stdout, fresh.stdout);
}
