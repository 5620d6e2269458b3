//! `tts-batch text`: exactly what each item sends, piece by piece; and the pronunciation
//! lexicon (`--lexicon`, job key `lexicon`), whose entries cost only the pieces they change.

use crate::support::{FakeApi, Workspace, assert_exit, refused};

/// The pieces the fake API received, in the order of the item's pieces (by request text).
fn sent_texts(api: &FakeApi) -> Vec<String> {
    api.successes()
        .iter()
        .filter_map(|r| r.body["input"].as_str().map(str::to_owned))
        .collect()
}

/// `text` prints what `run` sends: the same pieces, byte for byte, and nothing is sent or written.
#[test]
fn text_prints_exactly_the_pieces_a_run_sends() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    let before = ws.files();
    let api = FakeApi::start();
    let base = api.base_url();
    let out = ws.run(&[
        "text",
        "alice.md",
        "--max-chars",
        "1500",
        "--base-url",
        &base,
    ]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), 0, "text sends nothing");
    assert_eq!(ws.files(), before, "text writes nothing");
    // Items start with `=== KEY: TITLE ===`; pieces are separated by `---` lines.
    let mut printed: Vec<String> = Vec::new();
    let mut keys = Vec::new();
    for block in out.stdout.split("\n\n=== ") {
        let (head, body) = block.split_once(" ===\n").expect("item header");
        keys.push(head.trim_start_matches("=== ").to_owned());
        printed.extend(
            body.trim_end_matches('\n')
                .split("\n---\n")
                .map(str::to_owned),
        );
    }
    assert_eq!(keys.len(), 12, "{keys:?}");
    assert!(
        keys[0].starts_with("01-down-the-rabbit-hole: CHAPTER I."),
        "{keys:?}"
    );
    assert!(printed.len() > 12);

    let run = ws.run_against(&api, "alice.md", &["--max-chars", "1500", "-j", "1"]);
    assert_exit(&run, 0);
    let mut sent = sent_texts(&api);
    sent.sort();
    let mut expected = printed.clone();
    expected.sort();
    assert_eq!(sent, expected, "text shows exactly what run sent");
}

/// `--dir` writes one DIR/<key>.txt per item, pieces separated by `---`; `--key` picks items.
#[test]
fn text_dir_writes_one_file_per_item() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    let out = ws.run(&[
        "text",
        "alice.md",
        "--max-chars",
        "2000",
        "--dir",
        "spoken",
        "--key",
        "02-the-pool-of-tears",
        "--key",
        "12-alice-s-evidence",
    ]);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "");
    let mut files: Vec<String> = std::fs::read_dir(ws.path("spoken"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["02-the-pool-of-tears.txt", "12-alice-s-evidence.txt"]
    );
    let text = std::fs::read_to_string(ws.path("spoken/02-the-pool-of-tears.txt")).unwrap();
    assert!(text.starts_with("CHAPTER II. The Pool of Tears\n\n“Curiouser and curiouser!”"));
    let pieces: Vec<&str> = text.trim_end().split("\n---\n").collect();
    assert!(pieces.len() >= 5, "{}", pieces.len());
    assert!(pieces.iter().all(|p| p.chars().count() <= 2000));
    // An unknown key is bad input.
    refused(&ws, &["text", "alice.md", "--key", "nope"], "--key nope");
}

const LEXICON: &str =
    "[replace]\n\"Dinah\" = \"Dyna\"\n\n[replace_any_case]\n\"mr.\" = \"Mister\"\n";

/// A lexicon entry changes the spoken text everywhere it matches, `text` and `plan` show it,
/// and a run with it re-requests only the pieces whose text it changed: every other file keeps
/// its bytes.
#[test]
fn a_lexicon_entry_costs_only_the_pieces_it_changes() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    ws.write("names.toml", LEXICON);
    let api = FakeApi::start();
    let first = ws.run_against(
        &api,
        "alice.md",
        &["--max-chars", "1000", "--audio-format", "wav"],
    );
    assert_exit(&first, 0);
    let files_before: Vec<(String, Vec<u8>)> = wavs(&ws);
    let sent_before = sent_texts(&api);
    assert!(sent_before.iter().any(|t| t.contains("Dinah")));
    api.reset_log();

    // What will change, before paying: the plan counts the replacements per item.
    let plan = ws.run(&[
        "plan",
        "alice.md",
        "--max-chars",
        "1000",
        "--audio-format",
        "wav",
        "--lexicon",
        "names.toml",
    ]);
    assert_exit(&plan, 0);
    assert!(plan.stdout.contains("LEXICON"), "{}", plan.stdout);
    let text = ws.run(&[
        "text",
        "alice.md",
        "--max-chars",
        "1000",
        "--lexicon",
        "names.toml",
    ]);
    assert!(!text.stdout.contains("Dinah") && text.stdout.contains("Dyna"));

    let job = ws.write(
        "job.toml",
        "input = \"alice.md\"\nmax-chars = 1000\naudio-format = \"wav\"\nlexicon = \"names.toml\"\nrpm = 6000\n",
    );
    let base = api.base_url();
    let second = ws.run(&["run", job.to_str().unwrap(), "--base-url", &base]);
    assert_exit(&second, 0);
    let sent = sent_texts(&api);
    let dinah_pieces = sent_before.iter().filter(|t| t.contains("Dinah")).count();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|t| t.contains("Dyna")),
        "only pieces with the name are sent again"
    );
    assert_eq!(
        sent.len(),
        dinah_pieces,
        "one request per piece that named Dinah"
    );
    let files_after = wavs(&ws);
    let changed: Vec<&String> = files_before
        .iter()
        .zip(&files_after)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| &a.0)
        .collect();
    let expected: Vec<&String> = files_before
        .iter()
        .map(|(name, _)| name)
        .filter(|name| {
            let key = name.trim_end_matches(".wav");
            let t = ws.run(&["text", "alice.md", "--max-chars", "1000", "--key", key]);
            t.stdout.contains("Dinah")
        })
        .collect();
    assert_eq!(
        changed, expected,
        "only the chapters that name Dinah are rebuilt"
    );
    assert!(changed.len() < files_before.len() / 2, "{changed:?}");
}

/// The chapter files of the run in `alice-audio`, with their bytes.
fn wavs(ws: &Workspace) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(ws.path("alice-audio"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".wav"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// A malformed lexicon is bad input naming the file and line; nothing is sent or written.
#[test]
fn a_malformed_lexicon_names_its_line() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    ws.write("bad.toml", "[replace]\nDinah = \"Dyna\"\nAlice = 7\n");
    refused(
        &ws,
        &["run", "alice.md", "--lexicon", "bad.toml"],
        "bad.toml: line 3",
    );
    ws.write(
        "odd.toml",
        "[replace]\nDinah = \"Dyna\"\n[voices]\nx = \"y\"\n",
    );
    refused(
        &ws,
        &["plan", "alice.md", "--lexicon", "odd.toml"],
        "odd.toml: line",
    );
    refused(
        &ws,
        &["run", "alice.md", "--lexicon", "missing.toml"],
        "missing.toml",
    );
}
