//! Markdown books end to end: one file per chapter, named by number and title, pieces joined.

use crate::support::decode::decoded_seconds;
use crate::support::*;

/// Sum of the audio served for each piece of `text` split as the binary splits it.
fn expected_seconds(api: &FakeApi, text: &str, max_chars: usize) -> f64 {
    tts_batch::chunk::pieces(&tts_batch::chunk::normalize(text), max_chars)
        .iter()
        .map(|piece| served_seconds(api, piece))
        .sum()
}

#[test]
fn alice_becomes_one_file_per_chapter_with_exact_durations() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    let api = FakeApi::builder().ms_per_char(15).start();
    let out = ws.run_against(&api, "alice.md", &["--max-chars", "2000", "-j", "8"]);
    assert_exit(&out, 0);

    let report = ws.report("alice-audio");
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 12, "twelve chapters, no title page");
    assert_eq!(items[0]["key"], "01-down-the-rabbit-hole");
    assert_eq!(items[0]["title"], "CHAPTER I. Down the Rabbit-Hole");
    assert_eq!(items[1]["output"], "02-the-pool-of-tears.mp3");
    assert_eq!(items[11]["output"], "12-alice-s-evidence.mp3");

    // Every distinct piece was requested exactly once.
    let requests = api.requests();
    let distinct: std::collections::HashSet<_> = requests.iter().map(|r| r.input.clone()).collect();
    assert_eq!(distinct.len(), requests.len());
    assert_eq!(
        report["totals"]["requests"].as_u64(),
        Some(requests.len() as u64)
    );

    let source = std::fs::read_to_string(corpus_path("alice.md")).unwrap();
    let chapters = tts_batch::manifest::markdown::chapters(&source, &Default::default());
    let mut total = 0.0;
    for (item, chapter) in items.iter().zip(&chapters) {
        assert!(
            item["chunks"].as_u64().unwrap() >= 2,
            "chapters are longer than 2000 characters"
        );
        let file = ws.path(&format!("alice-audio/{}", item["output"].as_str().unwrap()));
        let expected = expected_seconds(&api, &chapter.text, 2000);
        assert_seconds(decoded_seconds(&file).unwrap(), expected);
        assert_seconds(item["audio_seconds"].as_f64().unwrap(), expected);
        total += expected;
    }
    assert!((report["totals"]["audio_seconds"].as_f64().unwrap() - total).abs() < 0.01);
    // Markup is not read aloud.
    assert!(
        requests
            .iter()
            .all(|r| !r.input.contains('_') && !r.input.contains("##"))
    );
}

#[test]
fn a_chinese_novel_keeps_its_title_page_and_cjk_file_names() {
    let ws = Workspace::new();
    ws.corpus("chinese-novel.md");
    let api = FakeApi::builder().ms_per_char(50).start();
    let out = ws.run_against(
        &api,
        "chinese-novel.md",
        &["--max-chars", "1500", "-j", "8"],
    );
    assert_exit(&out, 0);
    let report = ws.report("chinese-novel-audio");
    let outputs: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["output"].as_str().unwrap())
        .collect();
    assert_eq!(outputs.len(), 6, "{outputs:?}");
    assert!(outputs[0].starts_with("00-"), "{outputs:?}");
    assert_eq!(outputs[1], "01-第一回-靈根育孕源流出-心性修持大道生.mp3");
    for output in outputs {
        let file = ws.path(&format!("chinese-novel-audio/{output}"));
        assert!(decoded_seconds(&file).unwrap() > 0.0);
    }
    assert!(
        api.requests()
            .iter()
            .all(|r| r.input.chars().count() <= 1500)
    );
}

#[test]
fn the_rust_book_reads_prose_and_skips_code() {
    let ws = Workspace::new();
    ws.corpus("rust-book-ch01-03.md");
    let api = FakeApi::builder().ms_per_char(15).start();
    let out = ws.run_against(
        &api,
        "rust-book-ch01-03.md",
        &["--audio-format", "wav", "-j", "8"],
    );
    assert_exit(&out, 0);
    let requests = api.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(!r.input.contains("{{#"), "mdBook directive read aloud");
        assert!(!r.input.contains("```"), "code fence read aloud");
        assert!(!r.input.contains("https://"), "link URL read aloud");
        assert!(!r.input.contains("fn main()"), "code read aloud");
    }
    let report = ws.report("rust-book-ch01-03-audio");
    assert_eq!(report["totals"]["failed"], 0);
    assert!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["output"].as_str().unwrap().ends_with(".wav"))
    );
}
